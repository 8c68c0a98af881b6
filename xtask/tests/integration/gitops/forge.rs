//! The forge stand-in: an HTTP server on loopback that answers GitHub's
//! statuses API (`POST /repos/OWNER/REPO/statuses/SHA`, 201 Created) and
//! records every status it receives, in order. Anything else is a 404 and is
//! recorded too, so that a test sees a request it did not expect.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One request the forge received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `METHOD PATH`.
    pub request: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body, as JSON (null if it was not JSON).
    pub body: Value,
}

/// A running forge stand-in; its thread ends with the test process.
pub struct Forge {
    /// `http://127.0.0.1:PORT`, the API root.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Forge {
    /// Starts the server on a free loopback port.
    pub fn start() -> Forge {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = answer(stream) {
                    log.lock().expect("the log lock").push(request);
                }
            }
        });
        Forge { url, received }
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the log lock").clone()
    }
}

/// Reads one HTTP/1.1 request and answers it; `None` for a broken one.
fn answer(stream: TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let is_status = method == "POST" && path.starts_with("/repos/") && path.contains("/statuses/");
    let reply: &[u8] = match is_status {
        true => b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        false => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    };
    let mut stream = stream;
    stream.write_all(reply).ok()?;
    Some(Received {
        request: format!("{method} {path}"),
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}
