// Package selected holds a plain go test package that the gotest suite runs
// with the Ginkgo CLI, to see which of its tests a label filter selects.
package selected

import (
	"testing"

	"github.com/pyharness/pyharness/gotest"
)

func TestMain(m *testing.M) { gotest.Main(m) }

// TestNeedsPython is an integration test: gotest labels it integration.
func TestNeedsPython(t *testing.T) {
	gotest.Integration(t)
	t.Log("the integration test ran")
}

// TestOnTheMock needs no Python: it runs whatever the filter.
func TestOnTheMock(t *testing.T) { t.Log("the unit test ran") }
