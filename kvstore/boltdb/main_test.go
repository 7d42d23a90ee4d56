package boltdb_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) != "" {
		holdFile()
		return
	}
	goleak.VerifyTestMain(m)
}
