//! Which generation a rollback moves a node's profile to. A rollback moves
//! the profile to an existing generation, as `nix-env --rollback` and
//! `--switch-generation` do, instead of making a new one: so a second rollback
//! goes one further back instead of returning to where the first one started.

use crate::probe::Probed;
use crate::Cause;

/// The generation (number and system) that `profile` rolls back to: `to`, or
/// the one before the current. The error names the generations there are.
pub(crate) fn generation_to(probed: &Probed, to: Option<u32>, profile: &str) -> Result<(u32, String), Cause> {
    let error = Cause::Other;
    let existing = || {
        let numbers: Vec<String> = probed.generations.iter().map(|(n, _)| n.to_string()).collect();
        if numbers.is_empty() {
            "it has none".to_string()
        } else {
            format!("it has {}", numbers.join(", "))
        }
    };
    match to {
        Some(number) => probed
            .generations
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(n, system)| (*n, system.clone()))
            .ok_or_else(|| {
                error(format!(
                    "{profile} has no generation {number} to roll back to ({}); nothing was changed",
                    existing()
                ))
            }),
        None => match probed.previous() {
            Some((number, system)) => Ok((*number, system.clone())),
            None => {
                Err(error(format!("{profile} has no earlier generation to roll back to ({})", existing())))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(current: u32, numbers: &[u32]) -> Probed {
        let generations: Vec<(u32, String)> =
            numbers.iter().map(|n| (*n, format!("/nix/store/s{n}"))).collect();
        Probed {
            current: Some(format!("/nix/store/s{current}")),
            generation: Some(current),
            generations,
            ..Probed::default()
        }
    }

    fn check(probed: &Probed, to: Option<u32>, expect: &str) {
        let got = match generation_to(probed, to, "/p") {
            Ok((n, system)) => format!("{n} {system}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn rollbacks_move_to_existing_generations() {
        check(&probed(3, &[1, 2, 3]), None, "2 /nix/store/s2");
        check(&probed(2, &[1, 2, 3]), None, "1 /nix/store/s1");
        check(&probed(3, &[1, 3]), None, "1 /nix/store/s1");
        check(&probed(3, &[1, 2, 3]), Some(1), "1 /nix/store/s1");
        check(
            &probed(3, &[1, 2, 3]),
            Some(7),
            "/p has no generation 7 to roll back to (it has 1, 2, 3); nothing was changed",
        );
        check(&probed(1, &[1]), None, "/p has no earlier generation to roll back to (it has 1)");
    }
}
