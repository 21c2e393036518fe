#!/usr/bin/env bash
# etcd-auth.sh sets up etcd's roles and users for berth and turns
# authentication on (SECURITY.md). It runs etcdctl as etcd's root user with
# the client certificate hack/certs.sh made for "root" (CN root).
#
#   hack/etcd-auth.sh [-d DIR] [-e ENDPOINTS] enable
#       the roles below and the root user; then authentication is on
#   hack/etcd-auth.sh [-d DIR] [-e ENDPOINTS] host HOST [--no-leader] [--gc] [--gitops]
#       user berth-host-HOST (hack/certs.sh controller HOST) with role
#       berth-host-HOST and, unless --no-leader, berth-leader
#   hack/etcd-auth.sh [-d DIR] [-e ENDPOINTS] operator NAME [--password-file F]
#   hack/etcd-auth.sh [-d DIR] [-e ENDPOINTS] readonly NAME [--password-file F]
#       user NAME with role berth-operator or berth-readonly; it signs in
#       with its certificate (CN NAME), or with the password in F
#
# Roles (every one may read all of /berth/v1/):
#   berth-host-HOST  writes only HOST's keys: status/HOST/, history/HOST/,
#                    catalog/HOST/, hosts/HOST, alive/HOST; and events/
#   berth-leader     what the cluster-wide loops write: bindings/ (where, not
#                    what, runs), leader/, GitSource statuses (status/leader/)
#   berth-gc         every host's status/, history/ and hosts/: removing the
#                    keys of hosts gone for --host-gc-after (it can also forge
#                    them: give it only to hosts you trust like root)
#   berth-gitops     objects/ (Jobs' versions too), applysets/: GitSources
#   berth-operator   objects/ (Jobs' versions too), applysets/, events/: applyctl
#   berth-readonly   nothing written: dashboards, applyctl get
#
# DIR is ./certs unless -d or $BERTH_CERTS_DIR says otherwise; ENDPOINTS is
# $ETCDCTL_ENDPOINTS, else https://127.0.0.1:2379.
set -euo pipefail

dir=${BERTH_CERTS_DIR:-./certs}
endpoints=${ETCDCTL_ENDPOINTS:-https://127.0.0.1:2379}
p=/berth/v1/
usage() {
	sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts d:e:h opt; do
	case $opt in
	d) dir=$OPTARG ;;
	e) endpoints=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
command -v etcdctl >/dev/null || { echo "etcd-auth.sh: etcdctl is needed (apt-get install -y etcd-client)" >&2; exit 1; }
for f in ca.pem user-root.pem user-root-key.pem; do
	[ -f "$dir/$f" ] || { echo "etcd-auth.sh: $dir/$f is missing: make it with hack/certs.sh -d $dir operator root" >&2; exit 1; }
done
unset ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_USER ETCDCTL_PASSWORD
ctl() {
	ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --cacert "$dir/ca.pem" \
		--cert "$dir/user-root.pem" --key "$dir/user-root-key.pem" "$@"
}
# try runs etcdctl and accepts "already exists" / "already granted": the
# script can be run again.
try() {
	local out
	if ! out=$(ctl "$@" 2>&1); then
		case $out in
		*"already exists"* | *"already granted"*) return 0 ;;
		esac
		echo "etcd-auth.sh: etcdctl $*: $out" >&2
		exit 1
	fi
}
role() { # role NAME [rw|r PREFIX-or-=KEY]...
	local name=$1
	shift
	try role add "$name"
	try role grant-permission "$name" read --prefix "$p"
	while [ $# -ge 2 ]; do
		local perm=$1 key=$2
		shift 2
		[ "$perm" = rw ] && perm=readwrite || perm=read
		if [[ $key == =* ]]; then
			try role grant-permission "$name" "$perm" "$p${key#=}"
		else
			try role grant-permission "$name" "$perm" --prefix "$p$key"
		fi
	done
}
user() { # user NAME PASSWORD-FILE ROLE...
	local name=$1 pwfile=$2
	shift 2
	if [ -n "$pwfile" ]; then
		[ -r "$pwfile" ] || { echo "etcd-auth.sh: --password-file $pwfile: cannot read it" >&2; exit 1; }
		try user add "$name" --interactive=false <"$pwfile" # not on the command line, where ps shows it
	else
		try user add "$name" --no-password
	fi
	for r in "$@"; do
		try user grant-role "$name" "$r"
	done
	echo "user $name: roles $*"
}
valid_name() { [[ $1 =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || { echo "etcd-auth.sh: $2 \"$1\": use lower case letters, digits, '-' and '.'" >&2; exit 2; }; }

cmd=$1
shift
case $cmd in
enable)
	[ $# -eq 0 ] || usage
	role berth-readonly
	role berth-operator rw objects/ rw applysets/ rw events/
	role berth-leader rw bindings/ rw leader/ rw status/leader/
	role berth-gc rw status/ rw history/ rw hosts/
	role berth-gitops rw objects/ rw applysets/
	try user add root --no-password
	try user grant-role root root
	if ! out=$(ctl auth enable 2>&1); then
		case $out in
		*"already enabled"* | *"user name is empty"* | *"permission denied"*) ;;
		*) echo "etcd-auth.sh: etcdctl auth enable: $out" >&2; exit 1 ;;
		esac
	fi
	echo "roles berth-readonly, berth-operator, berth-leader, berth-gc, berth-gitops made; authentication enabled"
	;;
host)
	[ $# -ge 1 ] || usage
	host=$1
	shift
	valid_name "$host" "host name"
	[ "$host" != leader ] || { echo "etcd-auth.sh: host name \"leader\" is reserved" >&2; exit 2; }
	leader=(berth-leader) extra=()
	for o in "$@"; do
		case $o in
		--no-leader) leader=() ;;
		--gc) extra+=(berth-gc) ;;
		--gitops) extra+=(berth-gitops) ;;
		*) usage ;;
		esac
	done
	roles=("berth-host-$host" ${leader[@]+"${leader[@]}"} ${extra[@]+"${extra[@]}"})
	role "berth-host-$host" rw "status/$host/" rw "history/$host/" rw "catalog/$host/" \
		rw "=hosts/$host" rw "=alive/$host" rw events/
	user "berth-host-$host" "" "${roles[@]}"
	;;
operator | readonly)
	[ $# -eq 1 ] || [ $# -eq 3 ] || usage
	name=$1
	valid_name "$name" "user name"
	pwfile=""
	if [ $# -eq 3 ]; then
		[ "$2" = --password-file ] || usage
		pwfile=$3
	fi
	user "$name" "$pwfile" "berth-$cmd"
	;;
*)
	usage
	;;
esac
