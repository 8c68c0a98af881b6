//! What an activation does to a node: NixOS's four `switch-to-configuration`
//! goals, and what each means for the profile, the health checks and the
//! confirmation. The activation job (`sh/job.sh`) follows the same table.

/// How far a deploy goes on the target, as `nixos-rebuild switch|boot|test|dry-activate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Goal {
    /// Set the profile and activate the new system now (the default).
    #[default]
    Switch,
    /// Set the profile for the next boot (or, for a container, the next start);
    /// the running system stays as it is.
    Boot,
    /// Activate the new system now without setting the profile: the next boot
    /// (or start) returns to the profile's system.
    Test,
    /// Show what a switch would do (`switch-to-configuration dry-activate`);
    /// change nothing.
    DryActivate,
}

impl Goal {
    /// Every goal, in the order help lists them.
    pub const ALL: [Goal; 4] = [Goal::Switch, Goal::Boot, Goal::Test, Goal::DryActivate];

    /// The goal's name, as `switch-to-configuration` and `--goal` take it.
    pub fn name(self) -> &'static str {
        match self {
            Goal::Switch => "switch",
            Goal::Boot => "boot",
            Goal::Test => "test",
            Goal::DryActivate => "dry-activate",
        }
    }

    /// The goal called `name`; the error lists the goals there are.
    pub fn parse(name: &str) -> Result<Goal, String> {
        Goal::ALL.into_iter().find(|g| g.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Goal::ALL.iter().map(|g| g.name()).collect();
            // nixos-rebuild and colmena users look for a reboot among the goals.
            let hint = match name {
                "reboot" => {
                    "; to reboot after the deploy, add --reboot (reboots when needed) or --reboot-always"
                }
                _ => "",
            };
            format!("`{name}` is not a goal; use one of {}{hint}", known.join(", "))
        })
    }

    /// Whether the running system changes, so that a host's switch may cut the
    /// deployer off and must be confirmed, and health checks are worth running.
    pub fn changes_running_system(self) -> bool {
        matches!(self, Goal::Switch | Goal::Test)
    }

    /// Whether the profile is what the host boots next, so that a reboot
    /// after it runs the new system (`--reboot`).
    pub fn boots(self) -> bool {
        matches!(self, Goal::Switch | Goal::Boot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_parse_by_their_names() {
        for goal in Goal::ALL {
            assert_eq!(Goal::parse(goal.name()), Ok(goal));
        }
        assert_eq!(
            Goal::parse("reboot"),
            Err("`reboot` is not a goal; use one of switch, boot, test, dry-activate; to reboot after the \
                 deploy, add --reboot (reboots when needed) or --reboot-always"
                .to_string())
        );
    }
}
