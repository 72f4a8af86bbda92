#!/bin/sh
# Turns `lightlyfs --help` into the man page lightlyfs(1), so the two are
# one text: BIN VERSION TAIL > lightlyfs.1.  Sections of the help
# ("lightlyfs options:", "FUSE options:") become .SS, option lines
# ("    -o name=VALUE   text", continued by deeper-indented lines) become
# tagged paragraphs, the prose before them the DESCRIPTION; TAIL (roff)
# follows.  Options --help lists twice are kept once.
set -eu
bin=$1
version=$2
tail=$3

# no LIGHTLY_* variable may change what the page says
help=$(env -u LIGHTLY_SERVER_LOCATION -u LIGHTLY_CA_CERTS "$bin" --help)

cat <<ROFF
.TH LIGHTLYFS 1 "" "lightlyfs $version" "User Commands"
.nh
.ad l
.SH NAME
lightlyfs \\- mount a Lightly account as a filesystem
.SH SYNOPSIS
.B lightlyfs
[\\fIoptions\\fR] [\\fISOURCE\\fR] \\fIMOUNTPOINT\\fR
.br
.B mount \\-t lightlyfs
\\fISOURCE\\fR \\fIMOUNTPOINT\\fR [\\fB\\-o\\fR \\fIoptions\\fR]
.SH DESCRIPTION
ROFF

printf '%s\n' "$help" | awk '
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	return s
}
function text(s) {
	s = esc(s)
	if (s ~ /^[.\047]/)
		s = "\\&" s
	return s
}
/^usage:/ { next }
/^$/ { if (!inopts) para = 1; next }
/^[A-Za-z][A-Za-z ]*options:$/ {
	sub(/:$/, "")
	if (!inopts)
		print ".SH OPTIONS"
	inopts = 1
	print ".SS " $0
	next
}
function indent(s) {
	match(s, /^ */)
	return RLENGTH
}
inopts && indent($0) <= 6 && /^ +-/ {
	# libfuse and we both start the text in column 28
	line = $0
	if (substr(line, 26, 2) == "  ") {
		tag = substr(line, 1, 27)
		desc = substr(line, 28)
	} else if (match(line, /[^ ]  +/)) {
		tag = substr(line, 1, RSTART)
		desc = substr(line, RSTART + RLENGTH)
	} else {
		tag = line
		desc = ""
	}
	sub(/^ +/, "", tag)
	sub(/ +$/, "", tag)
	key = tag
	gsub(/,? +/, " ", key)
	skip = (key in seen)
	seen[key] = 1
	if (skip)
		next
	print ".TP"
	print "\\fB" esc(tag) "\\fR"
	if (desc != "")
		print text(desc)
	next
}
inopts && /^ +/ {
	if (skip)
		next
	line = $0
	sub(/^ +/, "", line)
	print text(line)
	next
}
{
	if (para)
		print ".PP"
	para = 0
	print text($0)
}
'
cat "$tail"
