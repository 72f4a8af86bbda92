#!/usr/bin/env bats
# Exports from a server without the paged export paths: the old ones serve.

# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup() {
	emu_start --no-paged-exports
	DS=$(make_dataset scenes a/x1.jpg a/x2.jpg b/y1.jpg top1.png)
	make_tag "$DS" tag-a 0xd >/dev/null
}

teardown() {
	unmount_fs
	emu_stop
}

normalize() { python3 -c '
import json, re, sys
d = json.load(sys.stdin)
print(re.sub(r"publicToken=[^&\"]*", "", json.dumps(d, sort_keys=True)))'; }

@test "exports fall back to the old paths on 404 and hold the same document" {
	mount_fs
	local x="$MNT/scenes/.lightly/exports" tag f
	tag=$(tag_id "$DS" tag-a)
	for f in LabelStudioTasks:labelstudio LabelBoxDataRows:labelbox; do
		assert_equal "$(normalize <"$x/tag-a.${f#*:}.json")" \
			"$(api GET "/v1/datasets/$DS/tags/$tag/export/${f%%:*}" | normalize)"
	done
	[ "$(stat -c %s "$x/tag-a.labelbox.json")" = "$(wc -c <"$x/tag-a.labelbox.json")" ]
}
