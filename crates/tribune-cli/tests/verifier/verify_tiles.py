#!/usr/bin/env python3
"""An independent verifier for a C2SP tlog-tiles export of a Tribune ledger.

Written only from the public specifications, not from Tribune's code, so that the export is
shown to be readable by third-party tools:

- RFC 6962, section 2.1 (Merkle Tree Hash: leaf = SHA-256(0x00 || entry),
  node = SHA-256(0x01 || left || right), the empty tree hashes to SHA-256("")),
- c2sp.org/signed-note (note text, blank line, signature lines; Ed25519 key IDs),
- c2sp.org/tlog-checkpoint (origin, tree size, base64 root hash),
- c2sp.org/tlog-tiles (tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] paths, 256-wide
  tiles of concatenated hashes, entry bundles of big-endian uint16 length-prefixed entries),
- the verifier key string of Go's golang.org/x/mod/sumdb/note, which signed-note keys are
  exchanged in: <name>+<8 hex digit key ID>+<base64(0x01 || 32-byte Ed25519 public key)>.

Usage: verify_tiles.py DIR VERIFIER_KEY [--allow-missing-bundles]

DIR holds `checkpoint` and `tile/...` as a log would serve them under its prefix. Exits 0 only
if the checkpoint is signed by VERIFIER_KEY, every level-0 tile is present with the right
width, every entry in the entry bundles hashes to its leaf hash in the level-0 tile, the tree
recomputed from the level-0 tiles has the checkpoint's root, and every upper-level tile that is
present holds the Merkle Tree Hashes it must. Exits 1 on any mismatch, 2 on bad usage.

Needs Python 3.8+ and the `cryptography` package (for Ed25519).
"""

import base64
import binascii
import hashlib
import os
import struct
import sys

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes per full tile
HASH_SIZE = 32
ED25519_TYPE = 0x01


class Failure(Exception):
    """The export does not verify."""


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(entry):
    # RFC 6962 2.1: MTH({d(0)}) = SHA-256(0x00 || d(0)).
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    # RFC 6962 2.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    return sha256(b"\x01" + left + right)


def b64decode_strict(text):
    # Standard base64 (RFC 4648 section 4) with padding; reject anything else.
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Failure("not valid base64: %r (%s)" % (text, e))


# --- RFC 6962 Merkle Tree Hash -------------------------------------------------------------


def merkle_root(hashes):
    """MTH over leaves whose leaf hashes are `hashes` (RFC 6962 2.1), computed bottom-up.

    The recursive definition splits at the largest power of two below n; building the tree
    level by level and carrying an odd last node up unchanged yields the same tree, because
    every left subtree in that definition is a perfect tree of power-of-two size.
    """
    if not hashes:
        return sha256(b"")
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2 == 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root_recursive(hashes):
    """The literal RFC 6962 definition, used to cross-check `merkle_root` on small inputs."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root_recursive(hashes[:k]), merkle_root_recursive(hashes[k:]))


# --- c2sp.org/signed-note and the verifier key ----------------------------------------------


class VerifierKey:
    def __init__(self, text):
        # <name>+<hex key ID>+<base64 key>; the base64 part may itself contain '+', so split
        # at the first two only.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise Failure("verifier key %r is not <name>+<id>+<key>" % text)
        name, key_id_hex, key_b64 = parts
        if not name or any(c.isspace() for c in name):
            raise Failure("verifier key name %r is empty or contains a space" % name)
        if len(key_id_hex) != 8:
            raise Failure("verifier key ID %r is not 8 hex digits" % key_id_hex)
        try:
            key_id = int(key_id_hex, 16)
        except ValueError:
            raise Failure("verifier key ID %r is not hex" % key_id_hex)
        raw = b64decode_strict(key_b64)
        if len(raw) != 1 + 32 or raw[0] != ED25519_TYPE:
            raise Failure("verifier key is not an Ed25519 key (type byte 0x01 and 32 bytes)")
        public = raw[1:]
        # signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4].
        expected_id = struct.unpack(">I", sha256(name.encode() + b"\n" + raw)[:4])[0]
        if key_id != expected_id:
            raise Failure(
                "verifier key ID %08x does not match its name and key (expected %08x)"
                % (key_id, expected_id)
            )
        self.name = name
        self.key_id = key_id
        self.public = public

    def verify(self, message, signature):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
            return True
        except InvalidSignature:
            return False


def open_note(note, key):
    """Verifies a signed note and returns its text (bytes, with its final newline)."""
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("the checkpoint is not valid UTF-8")
    for ch in decoded:
        if ord(ch) < 0x20 and ch != "\n":
            raise Failure("the checkpoint contains a control character %r" % ch)
    # The text is separated from the signatures by the last empty line.
    split = note.rfind(b"\n\n")
    if split < 0:
        raise Failure("the checkpoint has no blank line before its signatures")
    text = note[: split + 1]
    sigs = note[split + 2 :]
    if not sigs.endswith(b"\n"):
        raise Failure("the checkpoint's signature block does not end in a newline")
    verified = False
    for line in sigs[:-1].split(b"\n"):
        prefix = "\u2014 ".encode("utf-8")
        if not line.startswith(prefix):
            raise Failure("malformed signature line %r" % line)
        rest = line[len(prefix) :].decode("utf-8")
        name, sep, sig_b64 = rest.rpartition(" ")
        if not sep or not name or " " in name:
            raise Failure("malformed signature line %r" % line)
        sig = b64decode_strict(sig_b64)
        if len(sig) < 5:
            raise Failure("signature too short in %r" % line)
        key_id = struct.unpack(">I", sig[:4])[0]
        if name != key.name or key_id != key.key_id:
            continue  # unknown keys are ignored
        if not key.verify(text, sig[4:]):
            raise Failure("the signature by %s+%08x does not verify" % (key.name, key.key_id))
        verified = True
    if not verified:
        raise Failure("the checkpoint is not signed by %s+%08x" % (key.name, key.key_id))
    return text


def parse_checkpoint(text):
    """c2sp.org/tlog-checkpoint: origin, tree size, root hash, optional extension lines."""
    lines = text.decode("utf-8").split("\n")
    # `text` ends in a newline, so the split leaves one empty string at the end.
    if lines[-1] != "" or len(lines) < 4:
        raise Failure("the checkpoint text has fewer than three lines")
    lines = lines[:-1]
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if not origin:
        raise Failure("the checkpoint origin is empty")
    if any(not extension for extension in lines[3:]):
        raise Failure("the checkpoint has an empty extension line")
    if not size_text.isdigit() or not size_text.isascii() or (
        len(size_text) > 1 and size_text[0] == "0"
    ):
        raise Failure("the checkpoint tree size %r is not a decimal without leading zeroes" % size_text)
    size = int(size_text)
    if size >= 1 << 64:
        raise Failure("the checkpoint tree size does not fit 64 bits")
    root = b64decode_strict(root_b64)
    if len(root) != HASH_SIZE:
        raise Failure("the checkpoint root hash is %d bytes, not 32" % len(root))
    return origin, size, root


# --- c2sp.org/tlog-tiles --------------------------------------------------------------------


def encode_index(n):
    """Tile index as zero-padded 3-digit path elements, all but the last prefixed with `x`."""
    parts = []
    while True:
        parts.append("%03d" % (n % 1000))
        n //= 1000
        if n == 0:
            break
    parts.reverse()
    return "/".join(["x" + p for p in parts[:-1]] + [parts[-1]])


def tile_path(level, n, width):
    path = "tile/%d/%s" % (level, encode_index(n))
    if width < TILE_WIDTH:
        path += ".p/%d" % width
    return path


def entries_path(n, width):
    path = "tile/entries/%s" % encode_index(n)
    if width < TILE_WIDTH:
        path += ".p/%d" % width
    return path


def read_file(root, rel):
    path = os.path.join(root, *rel.split("/"))
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def tiles_at_level(size, level):
    """(index, width) of every tile at `level` in a tree of `size` leaves, the partial last."""
    count = size // (TILE_WIDTH ** level)  # hashes at this level
    out = [(n, TILE_WIDTH) for n in range(count // TILE_WIDTH)]
    if count % TILE_WIDTH:
        out.append((count // TILE_WIDTH, count % TILE_WIDTH))
    return out


def split_hashes(data, width, rel):
    if len(data) != width * HASH_SIZE:
        raise Failure("%s is %d bytes, not %d hashes" % (rel, len(data), width))
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def parse_bundle(data, rel):
    entries = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise Failure("%s ends inside an entry length" % rel)
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        pos += 2
        if pos + length > len(data):
            raise Failure("%s ends inside an entry" % rel)
        entries.append(data[pos : pos + length])
        pos += length
    return entries


def verify(directory, key_text, allow_missing_bundles=False):
    key = VerifierKey(key_text)
    note = read_file(directory, "checkpoint")
    if note is None:
        raise Failure("no checkpoint in %s" % directory)
    origin, size, root = parse_checkpoint(open_note(note, key))
    if origin != key.name:
        raise Failure("the checkpoint origin %r is not the key name %r" % (origin, key.name))

    # Level 0: every leaf hash, and the entries that must hash to them.
    leaves = []
    entries_checked = 0
    missing_bundles = 0
    for n, width in tiles_at_level(size, 0):
        rel = tile_path(0, n, width)
        data = read_file(directory, rel)
        if data is None:
            raise Failure("missing level-0 tile %s" % rel)
        hashes = split_hashes(data, width, rel)
        erel = entries_path(n, width)
        bundle = read_file(directory, erel)
        if bundle is None:
            if not allow_missing_bundles:
                raise Failure("missing entry bundle %s" % erel)
            missing_bundles += width
        else:
            entries = parse_bundle(bundle, erel)
            if len(entries) != width:
                raise Failure("%s holds %d entries, not %d" % (erel, len(entries), width))
            for i, (entry, stored) in enumerate(zip(entries, hashes)):
                if leaf_hash(entry) != stored:
                    raise Failure(
                        "entry %d (in %s) does not hash to its leaf hash in %s"
                        % (n * TILE_WIDTH + i, erel, rel)
                    )
            entries_checked += width
        leaves.extend(hashes)

    computed = merkle_root(leaves)
    if computed != root:
        raise Failure(
            "the tree of %d leaf hashes has root %s, the checkpoint says %s"
            % (size, base64.b64encode(computed).decode(), base64.b64encode(root).decode())
        )

    # Upper levels: each hash of tile n at level l is MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l]).
    upper_checked = 0
    upper_missing = []
    level = 1
    while size // (TILE_WIDTH ** level) > 0:
        span = TILE_WIDTH ** level
        for n, width in tiles_at_level(size, level):
            rel = tile_path(level, n, width)
            data = read_file(directory, rel)
            if data is None:
                upper_missing.append(rel)
                continue
            hashes = split_hashes(data, width, rel)
            for i, stored in enumerate(hashes):
                start = (n * TILE_WIDTH + i) * span
                if merkle_root(leaves[start : start + span]) != stored:
                    raise Failure("hash %d of %s is not the Merkle Tree Hash it must be" % (i, rel))
            upper_checked += 1
        level += 1

    print(
        "ok: checkpoint %s size %d signed by %s+%08x; %d entries hashed, %d level-0 tiles, "
        "%d upper-level tiles verified; root %s"
        % (
            origin,
            size,
            key.name,
            key.key_id,
            entries_checked,
            len(tiles_at_level(size, 0)),
            upper_checked,
            base64.b64encode(root).decode(),
        )
    )
    if missing_bundles:
        print("note: %d entries have no entry bundle (pruned); their leaf hashes were verified" % missing_bundles)
    if upper_missing:
        print("note: upper-level tiles not present: %s" % ", ".join(upper_missing))


def self_test():
    # The iterative root must agree with the literal RFC 6962 recursion.
    for n in range(0, 70):
        hashes = [leaf_hash(bytes([i % 256, i // 256])) for i in range(n)]
        assert merkle_root(hashes) == merkle_root_recursive(hashes), n
    # RFC 6962 / transparency-dev known answers.
    assert merkle_root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert tiles_at_level(70000, 0)[-1] == (273, 112) and len(tiles_at_level(70000, 0)) == 274
    assert tiles_at_level(70000, 1) == [(0, 256), (1, 17)]
    assert tiles_at_level(70000, 2) == [(0, 1)]
    assert tiles_at_level(256, 1) == [(0, 1)]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    unknown = [f for f in flags if f not in ("--allow-missing-bundles",)]
    if len(args) != 2 or unknown:
        sys.stderr.write(__doc__)
        return 2
    try:
        import cryptography  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "error: the Python package `cryptography` is needed for Ed25519 "
            "(pip install cryptography)\n"
        )
        return 3
    self_test()
    try:
        verify(args[0], args[1], "--allow-missing-bundles" in flags)
    except Failure as e:
        print("FAILED: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
