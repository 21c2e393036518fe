#!/usr/bin/env bash
# certs.sh makes a CA and the certificates of a berth cluster with openssl:
# etcd members (server and peer), controllers (etcd client and HTTPS API)
# and operators (etcd client). etcd, started with --client-cert-auth and
# authentication enabled, takes a client certificate's common name as the
# user name: controller HOST is the etcd user berth-host-HOST, operator NAME
# is NAME. See SECURITY.md.
#
#   hack/certs.sh [-d DIR] ca
#   hack/certs.sh [-d DIR] etcd NAME ADDR[,ADDR...]
#   hack/certs.sh [-d DIR] controller HOST [ADDR[,ADDR...]]
#   hack/certs.sh [-d DIR] operator NAME
#
# DIR is ./certs unless -d or $BERTH_CERTS_DIR says otherwise. The CA is
# made on first use (DIR/ca.pem, DIR/ca-key.pem) and reused after; keep
# ca-key.pem off the hosts. Files written:
#   etcd NAME        etcd-NAME.pem, etcd-NAME-key.pem (server and peer;
#                    names: NAME, localhost, the ADDRs, 127.0.0.1)
#   controller HOST  host-HOST.pem, host-HOST-key.pem (etcd client,
#                    CN berth-host-HOST) and, with ADDRs, host-HOST-api.pem,
#                    host-HOST-api-key.pem (the controller's --tls-cert/--tls-key)
#   operator NAME    user-NAME.pem, user-NAME-key.pem (etcd client, CN NAME;
#                    "root" is etcd's root user, which sets up the roles)
# Certificates are valid for DAYS days ($BERTH_CERT_DAYS, default 825).
set -euo pipefail

dir=${BERTH_CERTS_DIR:-./certs}
days=${BERTH_CERT_DAYS:-825}
usage() {
	sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts d:h opt; do
	case $opt in
	d) dir=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
command -v openssl >/dev/null || { echo "certs.sh: openssl is needed (apt-get install -y openssl)" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"

valid_name() { [[ $1 =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || { echo "certs.sh: $2 \"$1\": use lower case letters, digits, '-' and '.'" >&2; exit 2; }; }

ca() {
	[ -f "$dir/ca.pem" ] && [ -f "$dir/ca-key.pem" ] && return
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca-key.pem"
	chmod 600 "$dir/ca-key.pem"
	openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days "$days" -subj "/CN=berth CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.pem" 2>/dev/null
	echo "made $dir/ca.pem"
}

# leaf FILE CN USAGE [SAN]: a key and a certificate signed by the CA.
leaf() {
	local file=$1 cn=$2 usage=$3 san=${4:-} ext
	ext=$(mktemp)
	trap 'rm -f "$ext"' RETURN
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$usage"
		[ -n "$san" ] && echo "subjectAltName=$san"
	} >"$ext"
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$file-key.pem"
	chmod 600 "$dir/$file-key.pem"
	openssl req -new -key "$dir/$file-key.pem" -subj "/CN=$cn" -out "$dir/$file.csr" 2>/dev/null
	openssl x509 -req -in "$dir/$file.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
		-days "$days" -sha256 -extfile "$ext" -out "$dir/$file.pem" 2>/dev/null
	rm -f "$dir/$file.csr"
	echo "made $dir/$file.pem ($cn)"
}

# sans ADDR[,ADDR...]: subjectAltName entries, IP: for addresses, DNS: for names.
sans() {
	local out="" a
	IFS=, read -ra list <<<"$1"
	for a in "${list[@]}"; do
		[ -n "$a" ] || continue
		if [[ $a =~ ^[0-9.]+$ || $a == *:* ]]; then out+="IP:$a,"; else out+="DNS:$a,"; fi
	done
	echo "${out%,}"
}

cmd=$1
shift
case $cmd in
ca)
	[ $# -eq 0 ] || usage
	ca
	;;
etcd)
	[ $# -eq 2 ] || usage
	valid_name "$1" "etcd member name"
	ca
	# CN etcd-member-NAME: the certificate also authenticates the member to
	# its peers as a client, and must never sign in as an etcd user.
	leaf "etcd-$1" "etcd-member-$1" serverAuth,clientAuth "$(sans "$1,localhost,127.0.0.1,$2")"
	;;
controller)
	[ $# -ge 1 ] && [ $# -le 2 ] || usage
	valid_name "$1" "host name"
	ca
	leaf "host-$1" "berth-host-$1" clientAuth
	if [ $# -eq 2 ]; then
		leaf "host-$1-api" "$1" serverAuth "$(sans "$1,localhost,127.0.0.1,$2")"
	fi
	;;
operator)
	[ $# -eq 1 ] || usage
	valid_name "$1" "user name"
	ca
	leaf "user-$1" "$1" clientAuth
	;;
*)
	usage
	;;
esac
