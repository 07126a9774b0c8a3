#!/usr/bin/env bash
# Grant the mysql-drift managed identity what it needs in Microsoft Graph and Exchange Online to
# send alert mail from ONE mailbox, and read application names (to name the app behind a change).
#
# Usage:
#   scripts/grant-graph-permissions.sh [--mailbox alerts@contoso.com] [--exchange rbac|policy]
#                                      [--principal-id ID] [--client-id ID] [--run-exchange] [--dry-run]
#
# Defaults come from the azd environment (run `azd up` first):
#   --principal-id  AZURE_MANAGED_IDENTITY_PRINCIPAL_ID  (object id of the identity's service principal)
#   --client-id     AZURE_MANAGED_IDENTITY_CLIENT_ID     (its application/client id)
#   --mailbox       DRIFT_MAIL_SENDER                    (the mailbox alerts are sent from)
#
# Who runs it: an Entra admin who may grant application permissions (Privileged Role Administrator
# or Global Administrator), signed in with `az login`. The Exchange step needs an Exchange admin and
# PowerShell with the ExchangeOnlineManagement module; by default it is printed, not run.
#
# Idempotent: every grant is checked first; running it twice changes nothing the second time.
#
# --exchange rbac (default): Exchange "RBAC for Applications". Mail.Send is granted in Exchange, in a
#   management scope holding only the sender mailbox. An Entra (Graph) Mail.Send grant would be
#   tenant-wide and adds to any Exchange scope, so in this mode it is REMOVED if present.
# --exchange policy: the legacy Application Access Policy. Mail.Send is granted in Entra and the
#   policy restricts it to a mail-enabled security group holding the sender mailbox. Microsoft asks
#   not to create new policies; use it only where policies are already the tenant's practice.
set -euo pipefail

GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
GRAPH=https://graph.microsoft.com/v1.0

principal_id="" client_id="" mailbox="" mode=rbac run_exchange=0 dry_run=0

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
die() { echo "error: $*" >&2; exit 1; }

azd_value() {
  command -v azd >/dev/null 2>&1 || return 0
  azd env get-value "$1" 2>/dev/null || true
}

while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id) principal_id="$2"; shift 2 ;;
    --client-id) client_id="$2"; shift 2 ;;
    --mailbox) mailbox="$2"; shift 2 ;;
    --exchange) mode="$2"; shift 2 ;;
    --run-exchange) run_exchange=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done

[ -n "$principal_id" ] || principal_id=$(azd_value AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)
[ -n "$client_id" ] || client_id=$(azd_value AZURE_MANAGED_IDENTITY_CLIENT_ID)
[ -n "$mailbox" ] || mailbox=$(azd_value DRIFT_MAIL_SENDER)
[ -n "$principal_id" ] || die "no principal id: pass --principal-id or run azd up first"
[ -n "$client_id" ] || die "no client id: pass --client-id or run azd up first"
[ -n "$mailbox" ] || die "no sender mailbox: pass --mailbox or azd env set DRIFT_MAIL_SENDER ..."
case "$mode" in rbac|policy) ;; *) die "--exchange must be rbac or policy" ;; esac
command -v az >/dev/null 2>&1 || die "the az CLI is required"

run() {
  if [ "$dry_run" = 1 ]; then echo "  (dry run) $*"; else "$@"; fi
}

graph_sp_id=$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)

app_role_id() {
  az ad sp show --id "$GRAPH_APP_ID" -o tsv \
    --query "appRoles[?value=='$1' && contains(allowedMemberTypes, 'Application')].id | [0]"
}

assignment_id() {  # the id of the identity's assignment of a Graph app role, or nothing
  az rest --method GET --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" -o tsv \
    --query "value[?resourceId=='$graph_sp_id' && appRoleId=='$1'].id | [0]"
}

grant() {
  local role=$1 id
  id=$(app_role_id "$role")
  [ -n "$id" ] || die "Graph has no application role $role"
  if [ -n "$(assignment_id "$id")" ]; then
    echo "Graph $role: already granted"
    return
  fi
  echo "Graph $role: granting"
  run az rest --method POST --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers Content-Type=application/json -o none \
    --body "{\"principalId\": \"$principal_id\", \"resourceId\": \"$graph_sp_id\", \"appRoleId\": \"$id\"}"
}

revoke() {
  local role=$1 id assignment
  id=$(app_role_id "$role")
  assignment=$(assignment_id "$id")
  if [ -z "$assignment" ]; then
    echo "Graph $role: not granted in Entra (as it should be in this mode)"
    return
  fi
  echo "Graph $role: granted tenant-wide in Entra, which would bypass the Exchange scope: removing"
  run az rest --method DELETE --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments/$assignment"
}

echo "Managed identity: service principal $principal_id, client id $client_id; sender mailbox $mailbox"
grant Application.Read.All
if [ "$mode" = policy ]; then grant Mail.Send; else revoke Mail.Send; fi

# The Exchange Online step, as PowerShell. Each command checks before it creates.
if [ "$mode" = rbac ]; then
  exchange=$(cat <<EOF
Connect-ExchangeOnline
if (-not (Get-ServicePrincipal -Identity '$principal_id' -ErrorAction SilentlyContinue)) {
  New-ServicePrincipal -AppId '$client_id' -ObjectId '$principal_id' -DisplayName 'mysql-drift'
}
if (-not (Get-ManagementScope -Identity 'mysql-drift-sender' -ErrorAction SilentlyContinue)) {
  New-ManagementScope -Name 'mysql-drift-sender' -RecipientRestrictionFilter "PrimarySmtpAddress -eq '$mailbox'"
}
if (-not (Get-ManagementRoleAssignment -Identity 'mysql-drift-mail-send' -ErrorAction SilentlyContinue)) {
  New-ManagementRoleAssignment -Name 'mysql-drift-mail-send' -App '$principal_id' -Role 'Application Mail.Send' -CustomResourceScope 'mysql-drift-sender'
}
Test-ServicePrincipalAuthorization -Identity '$principal_id' -Resource '$mailbox'
EOF
)
else
  exchange=$(cat <<EOF
Connect-ExchangeOnline
if (-not (Get-DistributionGroup -Identity 'mysql-drift-senders' -ErrorAction SilentlyContinue)) {
  New-DistributionGroup -Name 'mysql-drift-senders' -Type Security -Members '$mailbox'
}
if (-not (Get-ApplicationAccessPolicy | Where-Object { \$_.AppId -eq '$client_id' })) {
  New-ApplicationAccessPolicy -AppId '$client_id' -PolicyScopeGroupId 'mysql-drift-senders' -AccessRight RestrictAccess -Description 'mysql-drift: send alerts from one mailbox'
}
Test-ApplicationAccessPolicy -Identity '$mailbox' -AppId '$client_id'
EOF
)
fi

if [ "$run_exchange" = 1 ] && [ "$dry_run" = 0 ]; then
  command -v pwsh >/dev/null 2>&1 || die "--run-exchange needs pwsh with the ExchangeOnlineManagement module"
  echo "Running the Exchange Online step (sign in as an Exchange administrator) ..."
  pwsh -NoProfile -Command "$exchange"
else
  echo
  echo "Exchange Online step: run as an Exchange administrator in PowerShell (ExchangeOnlineManagement):"
  echo
  echo "$exchange"
fi
echo
echo "Grants can take up to an hour to reach a running app: restart it (az functionapp restart) if mail fails with 403."
