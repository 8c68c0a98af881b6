//! Which node a derivation belongs to: a derivation that several nodes need
//! is built once, by whichever node's build gets to it first, and this turns
//! nix's progress into each node's own (`building 3/17 glibc-2.39-52`).

use std::collections::HashMap;

use fleet_nix::{derivation_name, BuildLogEvent, PathInfo};

use crate::{Event, Sink};

/// The derivations each node's closure needs built, and how far they are.
pub(crate) struct BuildProgress<'n> {
    /// Derivation -> the nodes whose closures need it built.
    needed_by: HashMap<String, Vec<&'n str>>,
    /// Node -> (finished, expected, the derivation it started last).
    nodes: HashMap<&'n str, (usize, usize, Option<String>)>,
    /// Whether builders' output lines are passed on.
    logs: bool,
}

impl<'n> BuildProgress<'n> {
    /// No node yet; `logs`: whether builders' output lines are passed on.
    pub(crate) fn new(logs: bool) -> BuildProgress<'n> {
        BuildProgress { needed_by: HashMap::new(), nodes: HashMap::new(), logs }
    }

    /// Adds `node`, whose build needs the derivations of `closure` that are
    /// among `to_build`, and tells `sink` it is at 0 of them. Builds of
    /// several nodes may report to one `BuildProgress`: a derivation that one
    /// of them builds counts for every node that needs it.
    pub(crate) fn add(&mut self, node: &'n str, closure: &[PathInfo], to_build: &[String], sink: &dyn Sink) {
        let to_build: std::collections::HashSet<&str> = to_build.iter().map(String::as_str).collect();
        let mine: Vec<&str> =
            closure.iter().map(|info| info.path.as_str()).filter(|p| to_build.contains(p)).collect();
        self.nodes.insert(node, (0, mine.len(), None));
        for drv in &mine {
            self.needed_by.entry(drv.to_string()).or_default().push(node);
        }
        if !mine.is_empty() {
            sink.event(Event::Building { node, done: 0, expected: mine.len(), derivation: None });
        }
    }

    /// Turns one event of nix's log into the nodes' events.
    pub(crate) fn on_log(&mut self, event: BuildLogEvent, sink: &dyn Sink) {
        match event {
            BuildLogEvent::BuildStarted { drv } => {
                let name = derivation_name(&drv);
                for node in self.needed_by.get(&drv).into_iter().flatten() {
                    let (done, expected, current) = self.nodes.get_mut(node).expect("every node is counted");
                    *current = Some(name.to_string());
                    sink.event(Event::Building {
                        node,
                        done: *done,
                        expected: *expected,
                        derivation: Some(name),
                    });
                }
            }
            BuildLogEvent::BuildStopped { drv } => {
                let name = derivation_name(&drv);
                let nodes = self.needed_by.get(&drv).cloned().unwrap_or_default();
                for node in &nodes {
                    let (done, expected, current) = self.nodes.get_mut(node).expect("every node is counted");
                    *done += 1;
                    if current.as_deref() == Some(name) {
                        *current = None;
                    }
                    sink.event(Event::Building {
                        node,
                        done: *done,
                        expected: *expected,
                        derivation: current.as_deref(),
                    });
                }
                sink.event(Event::DerivationBuilt { derivation: name, nodes: &nodes });
            }
            BuildLogEvent::LogLine { drv, line } if self.logs => {
                sink.event(Event::BuildLog { derivation: derivation_name(&drv), line: &line });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Lines(Mutex<Vec<String>>);

    impl Sink for Lines {
        fn event(&self, event: Event<'_>) {
            let line = match event {
                Event::Building { node, done, expected, derivation } => {
                    format!("{node} {done}/{expected} {}", derivation.unwrap_or("-"))
                }
                Event::DerivationBuilt { derivation, nodes } => {
                    format!("built {derivation} for {}", nodes.join(","))
                }
                Event::BuildLog { derivation, line } => format!("{derivation}> {line}"),
                _ => return,
            };
            self.0.lock().unwrap().push(line);
        }
    }

    fn info(path: &str) -> PathInfo {
        PathInfo { path: path.into(), nar_size: 1 }
    }

    #[test]
    fn a_shared_derivation_counts_for_every_node_that_needs_it() {
        let lib = "/nix/store/a-lib-1.0.drv".to_string();
        let (web, db) = ("/nix/store/b-web-2.drv".to_string(), "/nix/store/c-db-3.drv".to_string());
        let closures = [
            vec![info(&lib), info(&web), info("/nix/store/s-source")],
            vec![info(&lib), info(&db), info("/nix/store/d-built-already.drv")],
        ];
        let sink = Lines(Mutex::new(Vec::new()));
        let mut progress = BuildProgress::new(true);
        let to_build = [lib.clone(), web.clone(), db.clone()];
        progress.add("web", &closures[0], &to_build, &sink);
        progress.add("db", &closures[1], &to_build, &sink);
        progress.on_log(BuildLogEvent::BuildStarted { drv: lib.clone() }, &sink);
        progress.on_log(BuildLogEvent::LogLine { drv: lib.clone(), line: "compiling".into() }, &sink);
        progress.on_log(BuildLogEvent::BuildStopped { drv: lib }, &sink);
        progress.on_log(BuildLogEvent::BuildStarted { drv: web }, &sink);
        assert_eq!(
            sink.0.into_inner().unwrap(),
            [
                "web 0/2 -",
                "db 0/2 -",
                "web 0/2 lib-1.0",
                "db 0/2 lib-1.0",
                "lib-1.0> compiling",
                "web 1/2 -",
                "db 1/2 -",
                "built lib-1.0 for web,db",
                "web 1/2 web-2",
            ]
        );
    }
}
