#!/bin/sh
# Start Kamailio in the foreground on a rendered edge folder (docker/edge/Dockerfile): check
# the configuration first, so a bad one stops here with Kamailio's message in `docker logs`.
set -eu
dir=${1:?usage: anshin-edge <folder with kamailio.cfg>}
mkdir -p "$dir/run"
rm -f "$dir/ctl.sock"  # a stale socket from a killed run would block the control socket
kamailio -c -f "$dir/kamailio.cfg"
exec kamailio -DD -E -f "$dir/kamailio.cfg" -w "$dir" -Y "$dir/run"
