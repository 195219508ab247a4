package state

import (
	"encoding/json"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// SetSchemaForTest writes a schema version into a closed store file.
func SetSchemaForTest(t *testing.T, path string, v int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data, _ := json.Marshal(v)
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(schemaKey, data) }); err != nil {
		t.Fatal(err)
	}
}
