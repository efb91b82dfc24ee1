#!/bin/sh
# midge-sn-pub and midge-sn-sub as a user runs them, where no gateway is needed: --help, refused options, and QoS -1
# with a long topic (refused before anything is sent). Usage: sn_cli_test.sh PUB SUB
pub=$1 sub=$2 fail=0
check() { # what, expected status, expected text (grep -F) in the output, command...
	what=$1 want=$2 text=$3
	shift 3
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" != "$want" ] || ! printf '%s' "$out" | grep -qF -- "$text"; then
		echo "FAIL: $what: status $got (want $want), output: $out"
		fail=1
	fi
}
check "pub --help" 0 "Usage: midge-sn-pub" "$pub" --help
check "sub --help" 0 "Usage: midge-sn-sub" "$sub" --help
check "bad option" 1 "Error: Unknown option '--nope'." "$pub" --nope
check "hint" 1 "Use 'midge-sn-pub --help' to see usage." "$pub" --nope
check "qos -1 long topic" 1 "QoS -1 needs a predefined topic id (-T)" "$pub" -t long/topic -m x -q -1
check "sub qos -1" 1 "QoS must be a number from 0 to 2" "$sub" -t a -q -1
check "no message" 1 "Nothing to publish" "$pub" -t a/b
# With a predefined file, a name it does not list is refused by the library: nothing is sent.
f=$(mktemp)
printf '1 sensors/temp\n' >"$f"
check "qos -1 not predefined" 1 "Error: QoS -1 needs a predefined topic id or a two-character topic name" \
	"$pub" -t other/topic -m x -q -1 --predefined-file "$f"
check "bad predefined file" 1 ": line 4: expected a topic id" "$sub" -t a --predefined-file /dev/null --predefined-file "$0"
rm -f "$f"
# QoS -1 needs no gateway answer: it is sent, and that is all (even with nobody listening).
check "qos -1 short" 0 "Sending PUBLISH (d0, q-1, r0, short topic 'ab'" "$pub" -h 127.0.0.1 -p 9 -t ab -m x -q -1 -d
# Nobody there: refused at once by ICMP, given up after the retries.
check "gateway lost" 1 "Error: gateway lost" "$pub" -h 127.0.0.1 -p 9 -t a/b -m x --retry 0.1 --retries 1
exit $fail
