package state

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// replicaIDKey holds, in the meta bucket, the replica's id.
var replicaIDKey = []byte("replica-id")

// ReplicaID returns the id that names this daned among the replicas
// sharing a store (what each hands in to the others): made at random the
// first time it is asked for, then kept in the store, so that a replica
// is the same one after a restart.
func (s *Store) ReplicaID() (string, error) {
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(metaBucket)
		if v := b.Get(replicaIDKey); len(v) > 0 {
			id = string(v)
			return nil
		}
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		id = hex.EncodeToString(r[:])
		return b.Put(replicaIDKey, []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("state: replica id: %w", err)
	}
	return id, nil
}
