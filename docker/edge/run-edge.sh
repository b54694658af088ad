#!/bin/sh
# Start the edge on a rendered folder (docker/edge/Dockerfile): the media relay (rtpengine,
# when the folder has rtpengine.args: labkit.edge.render_edge with a media relay) and then
# Kamailio in the foreground. The configuration is checked first, so a bad one stops here
# with Kamailio's message in `docker logs`.
set -eu
dir=${1:?usage: anshin-edge <folder with kamailio.cfg>}
mkdir -p "$dir/run"
rm -f "$dir/ctl.sock"  # a stale socket from a killed run would block the control socket
kamailio -c -f "$dir/kamailio.cfg"
if [ -f "$dir/rtpengine.args" ]; then
  # one argument per line (no spaces inside an argument)
  # shellcheck disable=SC2046
  rtpengine $(cat "$dir/rtpengine.args") &
  # Kamailio disables a relay that does not answer when it starts (rtpengine_disable_tout):
  # wait until rtpengine has bound its control port (/proc/net/udp, port in hex)
  port=$(sed -n 's/^--listen-ng=.*:\([0-9]*\)$/\1/p' "$dir/rtpengine.args")
  hex=$(printf ':%04X ' "$port")
  i=0
  until grep -q "$hex" /proc/net/udp; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then echo "rtpengine did not start" >&2; exit 1; fi
    sleep 0.1
  done
fi
exec kamailio -DD -E -f "$dir/kamailio.cfg" -w "$dir" -Y "$dir/run"
