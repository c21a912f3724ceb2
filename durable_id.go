package workers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// DurableObjectID identifies one Durable Object of a namespace, as Workers'
// DurableObjectId: 32 bytes, printed as 64 hex digits. An ID from
// [DurableObjectNamespace.IDFromName] is the same for the same name every
// time, in every process; one from [DurableObjectNamespace.NewUniqueID] is
// random. Its last 16 bytes authenticate the first 16 with the namespace's
// key, so [DurableObjectNamespace.IDFromString] and
// [DurableObjectNamespace.Get] can tell an ID of another namespace, or a
// mistyped one. IDs are values: compare them with [DurableObjectID.Equal]
// (== also compares the name, which an ID read back from a string lacks).
// The zero ID names no object.
type DurableObjectID struct {
	raw  [idBytes]byte
	name string
}

const (
	idBytes   = 32
	idBody    = 16
	idHexLen  = 2 * idBytes
	idKeySalt = "github.com/seed-29c11ff2/workers Durable Object namespace"
)

// String returns the ID as 64 lowercase hex digits, or "" for the zero ID.
func (id DurableObjectID) String() string {
	if id.IsZero() {
		return ""
	}
	return hex.EncodeToString(id.raw[:])
}

// Name returns the name the ID was made from with IDFromName, or "" for a
// unique ID and for one read with IDFromString.
func (id DurableObjectID) Name() string { return id.name }

// Equal reports whether id and other name the same object.
func (id DurableObjectID) Equal(other DurableObjectID) bool { return id.raw == other.raw }

// IsZero reports whether id is the zero ID, which names no object.
func (id DurableObjectID) IsZero() bool { return id.raw == [idBytes]byte{} }

// namespaceKey derives the key of the namespace of class in worker script:
// the same in every process, so that names map to the same IDs (and so the
// same storage) after a restart.
func namespaceKey(script, class string) [sha256.Size]byte {
	m := hmac.New(sha256.New, []byte(idKeySalt))
	m.Write([]byte(script))
	m.Write([]byte{0})
	m.Write([]byte(class))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

// idFromName makes the ID of name in the namespace with key k.
func idFromName(k *[sha256.Size]byte, name string) DurableObjectID {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("name\x00"))
	m.Write([]byte(name))
	var id DurableObjectID
	copy(id.raw[:idBody], m.Sum(nil))
	id.seal(k)
	id.name = name
	return id
}

// newUniqueID makes a random ID in the namespace with key k.
func newUniqueID(k *[sha256.Size]byte) DurableObjectID {
	var id DurableObjectID
	rand.Read(id.raw[:idBody])
	id.seal(k)
	return id
}

func (id *DurableObjectID) seal(k *[sha256.Size]byte) {
	copy(id.raw[idBody:], id.tag(k))
}

func (id *DurableObjectID) tag(k *[sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("id\x00"))
	m.Write(id.raw[:idBody])
	return m.Sum(nil)[:idBytes-idBody]
}

// belongs reports whether id was made in the namespace with key k.
func (id *DurableObjectID) belongs(k *[sha256.Size]byte) bool {
	return hmac.Equal(id.raw[idBody:], id.tag(k))
}

// parseID reads the 64 hex digits of an ID, saying what is wrong with s.
func parseID(s string) (DurableObjectID, string) {
	var id DurableObjectID
	if len(s) != idHexLen {
		return id, "want 64 hex digits, got " + plural(len(s), "character")
	}
	if _, err := hex.Decode(id.raw[:], []byte(s)); err != nil {
		return id, "want 64 hex digits: " + err.Error()
	}
	if id.IsZero() {
		return id, "the zero ID names no object"
	}
	return id, ""
}

func plural(n int, what string) string {
	s := strconv.Itoa(n) + " " + what
	if n != 1 {
		s += "s"
	}
	return s
}
