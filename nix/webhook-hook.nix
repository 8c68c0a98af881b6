# The GitOps trigger: one hook of webhook's hooks file, as the text that
# services.webhook.hooksTemplated expects. Pure (no nixpkgs), so that
# nix/webhook.nix and scripts/checks/webhook.sh use the very same definition.
#
# The rule: GitHub's signature over the body (X-Hub-Signature-256), the event
# pinned to workflow_run, and a completed, successful run of the pinned
# workflow for a push to `branch` of `repository` itself (not a fork's branch
# of the same name). The hook gets only the commit id, and only if it is 40
# lowercase hex digits, and the delivery's X-GitHub-Delivery id (a GUID, the
# same for a redelivery), by which the deploy unit ignores a replay.
{
  executeCommand,
  repository,
  branch ? "main",
  workflowPath ? ".github/workflows/ci.yml",
  secretEnv ? "GITOPS_WEBHOOK_SECRET",
  id ? "deploy",
}:
let
  payload = name: {
    source = "payload";
    inherit name;
  };
  header = name: {
    source = "header";
    inherit name;
  };
  is = parameter: value: {
    match = {
      type = "value";
      inherit parameter value;
    };
  };
  matches = parameter: regex: {
    match = {
      type = "regex";
      inherit parameter regex;
    };
  };

  # Go's regexp syntax (RE2) treats these as operators.
  metacharacters = [ "\\" "." "+" "*" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" ];
  literal = builtins.replaceStrings metacharacters (map (c: "\\" + c) metacharacters);

  # GitHub documents workflow_run.path only as "the full path of the
  # workflow", with the example "octocat/octo-repo/.github/workflows/ci.yml@main";
  # deliveries also carry the bare ".github/workflows/ci.yml". Both are
  # accepted, with the repository prefix and the ref only as pinned here.
  workflowPathRegex =
    "^(${literal repository}/)?${literal workflowPath}"
    + "(@(refs/heads/)?${literal branch})?$";

  # X-GitHub-Delivery as GitHub sends it: a lowercase GUID.
  guid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

  # Replaced below by a template action: the secret must not reach the
  # world-readable store, so webhook reads it from its environment when it
  # loads the file (`-template`). `js` escapes it for the JSON string it lands
  # in; webhook 2.8 knows no other template function that reads secrets.
  secretMarker = "@GITOPS_WEBHOOK_SECRET@";

  hook = {
    inherit id;
    execute-command = executeCommand;
    http-methods = [ "POST" ];
    # GitHub must be set to send application/json; a form-encoded delivery
    # then fails to parse and matches nothing.
    incoming-payload-content-type = "application/json";
    # Answered at once; the command runs detached and its output is never
    # returned (include-command-output-in-response stays off).
    response-message = "deploy requested";
    pass-arguments-to-command = [
      (payload "workflow_run.head_sha")
      (header "X-GitHub-Delivery")
    ];
    trigger-rule.and = [
      {
        match = {
          type = "payload-hmac-sha256";
          secret = secretMarker;
          parameter = header "X-Hub-Signature-256";
        };
      }
      (is (header "X-GitHub-Event") "workflow_run")
      (is (payload "action") "completed")
      (is (payload "repository.full_name") repository)
      (is (payload "workflow_run.head_repository.full_name") repository)
      (is (payload "workflow_run.event") "push")
      (is (payload "workflow_run.head_branch") branch)
      (matches (payload "workflow_run.path") workflowPathRegex)
      (is (payload "workflow_run.conclusion") "success")
      (matches (payload "workflow_run.head_sha") "^[0-9a-f]{40}$")
      (matches (header "X-GitHub-Delivery") "^${guid}$")
    ];
  };
in
builtins.replaceStrings
  [ ''"${secretMarker}"'' ]
  [ ''"{{ getenv "${secretEnv}" | js }}"'' ]
  (builtins.toJSON hook)
