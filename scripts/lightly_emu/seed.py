"""Seeding: --dataset NAME:N (N names sample_%07d.jpg and an initial tag) and
--demo (a small realistic account with tag trees, created once per state
file), both through Store's public methods.
"""

from . import content
from .common import RE_DATASET_NAME


def seed_dataset(store, spec):
    name, sep, count = spec.rpartition(":")
    if not sep or not count.isdigit() or not RE_DATASET_NAME.match(name):
        raise SystemExit("--dataset wants NAME:N with a valid dataset name, got %r" % spec)
    if store.find_dataset_by_name(name) is not None:
        return
    n = int(count)
    ds_id = store.create_dataset(name)
    store.add_samples(ds_id, ["sample_%07d.jpg" % i for i in range(n)], unique=False)
    store.create_initial_tag(ds_id, {"imgType": "full", "creator": "USER_PIP"})


def _bits(indices):
    mask = 0
    for i in indices:
        mask |= 1 << i
    return hex(mask)


DEMO_LARGE = {("medical-xray", "patient_003/lateral.jpg"): 9_876_543}


def demo_meta(dataset_name, file_name):
    """Demo samples carry metaData as the pip uploader sends it: realistic, varied sizes
    (whatever --blob-sizes says), one X-ray over 8 MiB."""
    size = DEMO_LARGE.get((dataset_name, file_name)) or content.varied_size(file_name)
    return {"metaData": {"sizeInBytes": size,
                         "shape": content.shape(content.kind_of(file_name), size)}}


def seed_demo(store):
    """A small realistic account; created once per state file."""
    if store.meta_flag("demo_seeded"):
        return

    def dataset(name, names, tags):
        ds_id = store.create_dataset(name)
        store.add_samples(ds_id, names, [demo_meta(name, n) for n in names])
        ids = {"initial-tag": store.create_initial_tag(
            ds_id, {"imgType": "full", "creator": "USER_PIP"})}
        for tag_name, parent, indices, creator in tags:
            ids[tag_name] = store.create_tag(ds_id, {
                "name": tag_name, "prevTagId": ids[parent], "bitMaskData": _bits(indices),
                "totSize": len(names), "creator": creator})
        return ds_id, ids

    street = ["cam%d/2024-05-%02d/frame_%04d.jpg" % (cam, day, f)
              for cam in (0, 1) for day in (1, 2) for f in range(1, 11)]
    night = [i for i in range(len(street)) if (i % 10) >= 6]
    dataset("street-scenes", street, [
        ("night", "initial-tag", night, "USER_WEBAPP"),
        ("night-blurry", "night", night[::3], "USER_WEBAPP"),
        ("to-label", "initial-tag", list(range(0, len(street), 4)), "SAMPLER_CORESET"),
        ("day-highway", "initial-tag", [i for i in range(len(street)) if i % 10 < 3],
         "USER_PIP"),
    ])

    pallets = ["site-%s/aisle-%02d/pallet_%03d.png" % (site, aisle, p)
               for site in ("berlin", "munich") for aisle in (1, 2, 3) for p in range(1, 6)]
    damaged = [1, 4, 9, 13, 17, 22, 26]
    pallet_id, pallet_tags = dataset("warehouse-pallets", pallets, [
        ("damaged", "initial-tag", damaged, "USER_WEBAPP"),
        ("damaged-review", "damaged", damaged[:3], "USER_WEBAPP"),
        ("random-20pct", "initial-tag", list(range(0, len(pallets), 5)), "SAMPLER_RANDOM"),
    ])

    xray = ["patient_%03d/%s.jpg" % (p, view) for p in range(1, 7) for view in ("ap", "lateral")]
    xray_id, xray_tags = dataset("medical-xray", xray, [
        ("ap-views", "initial-tag", list(range(0, len(xray), 2)), "USER_PIP"),
        ("to-label", "ap-views", [0, 4, 8], "SAMPLER_ACTIVE_LEARNING"),
    ])
    store.add_samples(xray_id, ["patient_007/ap.jpg", "patient_007/lateral.jpg"])
    store.upsize(xray_id, {"upsizeTagName": "new-2024-06", "upsizeTagCreator": "USER_PIP"})

    archive = ["archive/2023-11-%02d/frame_%04d.jpg" % (day, f)
               for day in (20, 21) for f in range(1, 6)]
    dataset("street-scenes", archive, [
        ("keep", "initial-tag", [0, 2, 4, 6, 8], "USER_WEBAPP"),
    ])
    store.arithmetics(pallet_id, {
        "tagId1": pallet_tags["damaged"], "tagId2": pallet_tags["random-20pct"],
        "operation": "UNION", "newTagName": "damaged-or-sampled", "creator": "USER_PIP"}, True)
    store.set_meta_flag("demo_seeded")
