# shellcheck shell=sh disable=SC2034
# The exit codes of the scripts that run on a target, by name. This text goes
# in front of each of them (job.rs, probe.rs and kinds.rs put it there), so each uses the
# names without sourcing a file the target does not have; protocol.rs holds the
# same numbers, and a test fails when the two disagree. (SC2034: the names are
# used by the script that follows, not here.)
EXIT_FAILED=1
EXIT_USAGE=2
EXIT_REFUSED=3
EXIT_FENCED=4
EXIT_LOCKED=75
