#!/usr/bin/env bash
# Smoke test of the production deployment (docs/deploy.md) on this machine, on ports that do
# not collide with the lab: builds the images (./lab build), fills docker/prod.env.example and
# the carrier trunk template with throw-away values, renders Asterisk's configuration, starts
# docker/compose.prod.yml as project anshin-smoke, waits for every service to be healthy,
# places one SIPp call from the trunk's address to the retrieval IVR, adds a subscriber with
# the operator CLI, and removes everything again (containers and volumes). Run as root.
# Not part of ./lab test: it needs the app and PostgreSQL images (minutes to build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
W=$(mktemp -d /tmp/anshin-smoke.XXXX)
ENVF=$W/anshin.env
export PROD_ENV_FILE=$ENVF
dc() { docker-compose -p anshin-smoke -f docker/compose.prod.yml --env-file "$ENVF" "$@"; }
cleanup() { dc down -v >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT

./lab build >"$W/images.env"
rand() { python3 -c "import secrets; print(secrets.token_hex($1))"; }
PW=$(rand 16); ARIPW=$(rand 16); SECRET=$(rand 32)
sed -e "s#^POSTGRES_PASSWORD=.*#POSTGRES_PASSWORD=$PW#" \
    -e "s#^GRAFANA_ADMIN_PASSWORD=.*#GRAFANA_ADMIN_PASSWORD=$PW#" \
    -e "s#^PG_PORT=.*#PG_PORT=15432#" \
    -e "s#^ANSHIN_DATABASE_URL=.*#ANSHIN_DATABASE_URL=postgresql://postgres:$PW@127.0.0.1:15432/anshin#" \
    -e "s#^ANSHIN_ARI_PASSWORD=.*#ANSHIN_ARI_PASSWORD=$ARIPW#" \
    -e "s#^ANSHIN_ARI_URL=.*#ANSHIN_ARI_URL=http://127.0.0.1:18088/ari#" \
    -e "s#^ANSHIN_STATUS_PORT=.*#ANSHIN_STATUS_PORT=18089#" \
    -e "s#^STATUS_PORT_B=.*#STATUS_PORT_B=18090#" \
    -e "s#^ANSHIN_PORTAL_PORT=.*#ANSHIN_PORTAL_PORT=18080#" \
    -e "s#^ANSHIN_PORTAL_SECRET=.*#ANSHIN_PORTAL_SECRET=$SECRET#" \
    -e "s#^ASTERISK_CONF_DIR=.*#ASTERISK_CONF_DIR=$W/asterisk#" \
    docker/prod.env.example >"$ENVF"
cat "$W/images.env" >>"$ENVF"
set -a; . "$ENVF"; set +a
python3 - <<'PY'
import os
from pathlib import Path
from labkit.render import LabConfig, LabPorts, render
render(LabConfig(instance="smoke",
                 ports=LabPorts(sip=15060, http=18088, rtp_start=32000, rtp_end=32099,
                                carrier=15080),
                 ari_user=os.environ["ANSHIN_ARI_USER"],
                 ari_password=os.environ["ANSHIN_ARI_PASSWORD"],
                 ari_app_spread=int(os.environ["ANSHIN_ARI_APP_SPREAD"]),
                 phone_password="unused"),
       Path(os.environ["ASTERISK_CONF_DIR"]))
PY
sed -e 's#^bind = 0.0.0.0:5060#bind = 127.0.0.1:15060#' \
    -e '/^external_signaling_address/d' -e '/^external_media_address/d' -e '/^local_net/d' \
    -e 's#<CARRIER_SIP_DOMAIN>#127.0.0.1:15081#g' -e 's#<CARRIER_SIP_HOST>:5060#127.0.0.1:15080#' \
    -e 's#<CARRIER_SIGNALING_IP_OR_CIDR>#127.0.0.1#' -e 's#<CARRIER_AUTH_USER>#05011112222#g' \
    -e 's#<CARRIER_AUTH_PASSWORD>#smoke-secret-1#' \
    docker/asterisk/pjsip.prod.conf.example >"$ASTERISK_CONF_DIR/pjsip.conf"
if grep -v '^;' "$ASTERISK_CONF_DIR/pjsip.conf" | grep -q '<'; then
  echo "smoke: unfilled placeholder in pjsip.conf" >&2; exit 1
fi

dc up -d
for _ in $(seq 1 90); do
  [[ $(dc ps | grep -c '(healthy)') -eq 5 ]] && break
  sleep 2
done
dc ps
[[ $(dc ps | grep -c '(healthy)') -eq 5 ]] || { dc logs --tail 30; echo "smoke: not healthy" >&2; exit 1; }
curl -fsS 127.0.0.1:18089/ready; echo
curl -fsS 127.0.0.1:18090/ready; echo   # the second app instance
if PGPASSWORD= psql -h 127.0.0.1 -p 15432 -U postgres -w -c 'select 1' anshin >/dev/null 2>&1; then
  echo "smoke: PostgreSQL let a login in without a password" >&2; exit 1
fi
sipp -sn uac -s "$ANSHIN_RETRIEVAL_NUMBER" -m 1 -l 1 -d 2000 -timeout 30 -timeout_error \
     -i 127.0.0.1 -p 15098 127.0.0.1:15060 >/dev/null 2>&1 </dev/null
# either app instance took the call (the dialplan starts at a random one); the app counts
# it when it has seen the hang-up, a moment after SIPp's BYE
reached=""
for _ in $(seq 1 20); do
  if cat <(curl -fsS 127.0.0.1:18089/metrics) <(curl -fsS 127.0.0.1:18090/metrics) \
      | grep -q 'anshin_calls_total{outcome="caller_hung_up",route="retrieval_ivr"} 1.0'; then
    reached=yes; break
  fi
  sleep 0.5
done
[[ -n $reached ]] || { dc logs --tail 30 callflow callflow-b
                       echo "smoke: the call did not reach the retrieval IVR" >&2; exit 1; }
dc exec -T portal python -m portal.admin account smoke@example.jp --password-stdin <<<"$(rand 8)"
dc exec -T portal python -m portal.admin number smoke@example.jp 05012345678 --pin 4071
dc exec -T portal python -m portal.admin show smoke@example.jp
echo "smoke: OK"
