package emulator_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/infra/emulator"
)

func TestRepoRootHoldsGoMod(t *testing.T) {
	t.Parallel()
	root := emulator.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot = %s, which has no go.mod: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "domain")); err != nil {
		t.Errorf("RepoRoot = %s, which is not the orderflow module root: %v", root, err)
	}
}

func TestDynaliteAnswersDynamoDB(t *testing.T) {
	t.Parallel()
	endpoint := emulator.Dynalite(t)
	if again := emulator.Dynalite(t); again != endpoint {
		t.Errorf("Dynalite gave %s then %s, want one shared emulator", endpoint, again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := dynamodb.NewFromConfig(emulator.AWSConfig(endpoint))
	if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables on %s: %v", endpoint, err)
	}
}

func TestStartDynaliteStopsWithTheTest(t *testing.T) {
	t.Parallel()
	var endpoint string
	t.Run("owner", func(t *testing.T) {
		endpoint = emulator.StartDynalite(t)
		if endpoint == emulator.Dynalite(t) {
			t.Fatalf("StartDynalite returned the shared emulator %s", endpoint)
		}
		resp, err := http.Get(endpoint + "/")
		if err != nil {
			t.Fatalf("GET %s/: %v", endpoint, err)
		}
		resp.Body.Close()
	})
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get(endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("private dynalite at %s still answers after its test ended", endpoint)
	}
}

func TestTableNamesAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 3 {
		name := emulator.TableName(t)
		if seen[name] {
			t.Fatalf("TableName repeated %q", name)
		}
		seen[name] = true
	}
}
