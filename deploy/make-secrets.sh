#!/usr/bin/env bash
# Creates the files docker-compose.yml mounts as secrets, and the env file it reads the public
# trust anchors and database passwords from (docs/deployment.md "Secrets"):
#
#   deploy/make-secrets.sh [out-dir]     create what is missing (default: deploy/secrets)
#   deploy/make-secrets.sh --list        print the files it creates, relative to out-dir
#
#   <id>.key            Ed25519 seed (64 hex) of the operator, clearing, every service and every
#                       participant in deploy/participants.txt
#   public/<id>.pub     its public key (64 hex); the register job reads this folder
#   <service>.data-keys sealing keys (DATA_KEYS) of each service that seals data at rest
#   notify.data-keys    NOTIFY_DATA_KEYS, shared by the services that request notifications and the notifier
#   postgres.password   the PostgreSQL superuser's password
#   <service>.db-password  the password of each service's own database role
#   compose.env         CLEARMESH_SECRETS_DIR, OPERATOR_PUBLIC_KEY, CLEARING_PUBLIC_KEY and the
#                       database passwords, for `docker-compose --env-file`
#
# An existing key, data key or password is never replaced (delete the file to replace it: a new
# participant key must also be registered at clearing, and a new data key must be added in front
# of the old one, not instead of it). compose.env is rewritten from the files on every run.
# Needs bash, openssl (1.1.1 or later, for Ed25519) and coreutils; no Node.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The services of docker-compose.yml; each gets an identity key and a database role.
SERVICES=(clearing bank-adapter wallet e-commerce-connector notifier)
# The services whose settings have DATA_KEYS (they seal account numbers, cards, personal data).
SEALING_SERVICES=(bank-adapter wallet)

# Key owners: the operator, clearing, and deploy/participants.txt (the other services and the
# participants they host), each once.
key_owners() {
  printf '%s\n' operator "${SERVICES[@]}"
  awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$here/participants.txt"
}
mapfile -t OWNERS < <(key_owners | awk '!seen[$0]++')

outputs() {
  local id service
  for id in "${OWNERS[@]}"; do printf '%s\n' "$id.key" "public/$id.pub"; done
  for service in "${SEALING_SERVICES[@]}"; do printf '%s\n' "$service.data-keys"; done
  printf '%s\n' notify.data-keys postgres.password
  for service in "${SERVICES[@]}"; do printf '%s\n' "$service.db-password"; done
  printf '%s\n' compose.env
}

if [ "${1:-}" = "--list" ]; then
  outputs
  exit 0
fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi

command -v openssl >/dev/null 2>&1 || { echo "make-secrets: openssl is required" >&2; exit 1; }
out=${1:-"$here/secrets"}
umask 077
mkdir -p "$out/public"
out=$(cd "$out" && pwd)
# The folder keeps the files private on the host; the files themselves are readable (0644)
# because compose without swarm bind-mounts secrets with their host owner and mode, and the
# containers read them as their own users (node, uid 1000; postgres, uid 999).
chmod 700 "$out"
chmod 755 "$out/public"

hex() { od -An -v -tx1 | tr -d ' \n'; }

# PKCS#8 prefix of an Ed25519 private key: the seed follows it (RFC 8410).
PKCS8_ED25519_PREFIX='302e020100300506032b657004220420'

public_key_of() {
  local seed=$1 bytes
  bytes=$(printf '%s%s' "$PKCS8_ED25519_PREFIX" "$seed" | sed 's/../\\x&/g')
  printf '%b' "$bytes" | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | hex
}

write_file() { # <file> <content>: 0644, replacing atomically
  local tmp
  tmp=$(mktemp "$out/.tmp.XXXXXX")
  printf '%s\n' "$2" >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$1"
}

created=()
for id in "${OWNERS[@]}"; do
  key="$out/$id.key"
  if [ ! -e "$key" ]; then
    write_file "$key" "$(openssl rand -hex 32)"
    created+=("$id.key")
  fi
  seed=$(tr -d ' \n\r' <"$key")
  if ! [[ $seed =~ ^[0-9a-fA-F]{64}$ ]]; then
    echo "make-secrets: $key is corrupt: expected 64 hex characters (an Ed25519 seed)" >&2
    exit 1
  fi
  write_file "$out/public/$id.pub" "$(public_key_of "$seed")"
done

new_secret() { # <file> <content>: only when missing
  if [ ! -e "$out/$1" ]; then
    write_file "$out/$1" "$2"
    created+=("$1")
  fi
}
for service in "${SEALING_SERVICES[@]}"; do new_secret "$service.data-keys" "k1:$(openssl rand -hex 32)"; done
new_secret notify.data-keys "k1:$(openssl rand -hex 32)"
new_secret postgres.password "$(openssl rand -hex 24)"
for service in "${SERVICES[@]}"; do new_secret "$service.db-password" "$(openssl rand -hex 24)"; done

env_name() { printf '%s' "$1" | tr 'a-z-' 'A-Z_'; }
{
  echo "# Written by deploy/make-secrets.sh; use it as: docker-compose --env-file $out/compose.env …"
  echo "# Private: it holds the database passwords. The public keys are the trust anchors of every service."
  echo "CLEARMESH_SECRETS_DIR=$out"
  echo "OPERATOR_PUBLIC_KEY=operator-1:$(cat "$out/public/operator.pub")"
  echo "CLEARING_PUBLIC_KEY=clearing-1:$(cat "$out/public/clearing.pub")"
  for service in "${SERVICES[@]}"; do
    echo "$(env_name "$service")_DB_PASSWORD=$(tr -d '\n' <"$out/$service.db-password")"
  done
} >"$out/compose.env.tmp"
chmod 600 "$out/compose.env.tmp"
mv "$out/compose.env.tmp" "$out/compose.env"

if [ ${#created[@]} -gt 0 ]; then
  echo "created in $out: ${created[*]}"
else
  echo "nothing to create in $out (every key and password exists)"
fi
echo "wrote $out/compose.env; start with: docker-compose --env-file $out/compose.env up -d"
