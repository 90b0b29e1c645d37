package function

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Causes of a revision.
const (
	CauseCreated       = "created"
	CauseUpdated       = "updated"
	CauseRollback      = "rollback"
	CauseSecretRotated = "secret-rotated"
)

// MaxRevisions is how many of a function's latest revisions are kept.
const MaxRevisions = 100

// Change says why a record's generation went up, and who asked: it
// becomes the revision's cause, message and author.
type Change struct {
	// Cause is set for a rollback or a rotation; none is an edit of the
	// spec: created at generation 1, else updated (RevisionOf).
	Cause   string `json:"cause,omitempty"`
	Message string `json:"message,omitempty"`
	By      string `json:"by,omitempty"`
}

// Revision is one immutable version of a function: the spec it ran at a
// generation (a function's revision number is its generation), why it
// was made, by whom and when.
type Revision struct {
	Revision  int64     `json:"revision"`
	Spec      Spec      `json:"spec"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Cause     string    `json:"cause"`
	Message   string    `json:"message,omitempty"`
}

// RevisionOf is the revision a record's generation stands for.
func RevisionOf(rec Record) Revision {
	cause := rec.Change.Cause
	if cause == "" { // an edit (and every record written before revisions)
		cause = CauseUpdated
		if rec.Generation == 1 {
			cause = CauseCreated
		}
	}
	return Revision{Revision: rec.Generation, Spec: rec.Spec, Digest: Digest(rec.Spec), CreatedAt: rec.UpdatedAt,
		CreatedBy: rec.Change.By, Cause: cause, Message: rec.Change.Message}
}

// Digest identifies a spec's content: "sha256:" and the hex SHA-256 of its
// JSON (encoding/json writes struct fields in order and map keys sorted,
// so equal specs have equal digests).
func Digest(s Spec) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
