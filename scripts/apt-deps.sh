#!/usr/bin/env bash
# apt-deps.sh PURPOSE SPEC...: makes sure Debian packages are installed.
# Each SPEC is KIND:WHAT:PACKAGE, where KIND is
#   bin   WHAT is a command (on PATH or in /usr/sbin),
#   file  WHAT is a file the package installs,
#   py    WHAT is a module Debian's /usr/bin/python3 must import.
# Missing packages are installed with apt-get when running as root;
# otherwise it says what to install and fails.
set -euo pipefail
purpose=$1
shift
missing=()
for spec in "$@"; do
	kind=${spec%%:*}
	rest=${spec#*:}
	what=${rest%:*}
	pkg=${rest##*:}
	case $kind in
	bin) command -v "$what" >/dev/null 2>&1 || [ -x "/usr/sbin/$what" ] || missing+=("$pkg") ;;
	file) [ -e "$what" ] || missing+=("$pkg") ;;
	py) /usr/bin/python3 -c "import $what" >/dev/null 2>&1 || missing+=("$pkg") ;;
	*) echo "apt-deps.sh: bad spec $spec" >&2; exit 2 ;;
	esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
# shellcheck disable=SC2207
missing=($(printf '%s\n' "${missing[@]}" | sort -u))
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "installing ${missing[*]} with apt-get (for $purpose)"
	# Postfix only serves posttls-finger here: no configuration, no daemon.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then /usr/sbin/postfix stop; fi
	exit 0
fi
echo "missing Debian packages for $purpose: ${missing[*]}"
echo "install them with: sudo apt-get install ${missing[*]}"
exit 1
