//! `sh/units.sh`'s answer after a host's switch: the containers, among
//! those asked about, whose host-side unit changed, one name a line.

use std::collections::HashSet;

use super::shown;

/// Decodes `units.sh`'s output for `containers`, the names it was given:
/// each line one of them, none twice. `Err` names, escaped, a line that is
/// not.
pub(crate) fn changed_units(out: &str, containers: &[String]) -> Result<Vec<String>, String> {
    let asked: HashSet<&str> = containers.iter().map(String::as_str).collect();
    let mut changed: Vec<String> = Vec::new();
    for line in out.lines() {
        if !asked.contains(line) {
            return Err(format!("a line that names no container asked about: `{}`", shown(line)));
        }
        if changed.iter().any(|name| name == line) {
            return Err(format!("container {line} named twice"));
        }
        changed.push(line.to_string());
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Vec<String> {
        ["web", "db"].map(String::from).to_vec()
    }

    #[test]
    fn the_changed_containers_are_those_named() {
        assert_eq!(changed_units("db\nweb\n", &asked()), Ok(vec!["db".to_string(), "web".to_string()]));
        assert_eq!(changed_units("", &asked()), Ok(Vec::new()));
    }

    /// A line that is not a name asked about (unknown, empty, padded, or
    /// bytes a terminal would obey) is an error that names it escaped.
    #[test]
    fn a_line_in_no_known_form_is_an_error_that_names_it() {
        for (out, expect) in [
            ("web\ncache\n", "a line that names no container asked about: `cache`"),
            ("web\n\n", "a line that names no container asked about: ``"),
            ("web \n", "a line that names no container asked about: `web `"),
            ("we\u{1b}[2Jb\n", "a line that names no container asked about: `we\\u{1b}[2Jb`"),
            ("db\ndb\n", "container db named twice"),
        ] {
            assert_eq!(changed_units(out, &asked()), Err(expect.to_string()), "{out:?}");
        }
    }

    /// The script, run by `sh` on two systems' files (no container runs
    /// here, so each is compared between the two): what it prints decodes.
    #[test]
    fn units_sh_output_decodes() {
        let dir = std::env::temp_dir().join(format!("fleet-units-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (system, web, db) in [("old", "a", "same"), ("new", "b", "same")] {
            let units = dir.join(system).join("etc/systemd/system");
            std::fs::create_dir_all(&units).unwrap();
            std::fs::write(units.join("container@web.service"), web).unwrap();
            std::fs::write(units.join("container@db.service"), db).unwrap();
        }
        let script = concat!(include_str!("../sh/unit-record.sh"), include_str!("../sh/units.sh"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("units")
            .args([dir.join("old"), dir.join("new")])
            .args(["web", "db", "gone"])
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let names = ["web", "db", "gone"].map(String::from);
        assert_eq!(changed_units(&String::from_utf8_lossy(&out.stdout), &names), Ok(vec!["web".to_string()]));
    }
}
