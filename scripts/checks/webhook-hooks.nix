# The hooks file nix/webhook.nix gives the webhook daemon, built from the same
# nix/webhook-hook.nix, for scripts/checks/webhook.sh. The wrapping in "[...]"
# is what services.webhook does with each hooksTemplated entry.
{
  executeCommand,
  repository ? "acme/fleet",
}:
"[" + import ../../nix/webhook-hook.nix { inherit executeCommand repository; } + "]"
