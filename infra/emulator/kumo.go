package emulator

import (
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sivchari/kumo"
)

// kumo keeps every service's state in package-level singletons, so all
// servers in one process share one state and building two at once is a data
// race. One server is therefore shared by the tests that are running, and
// closed when the last of them ends.
var (
	kumoMu   sync.Mutex
	kumoSrv  *kumo.Server
	kumoRefs int
)

// Kumo returns the URL of an in-process kumo server on 127.0.0.1 (SQS and
// Secrets Manager), closed through t.Cleanup once no running test uses it.
//
// The state is process-wide (a kumo limitation): queues and secrets made by
// one test are visible to every other test of the package, also across
// restarts of the server, so give each test its own queue and secret names.
// Never point a DynamoDB client at it: kumo evaluates update expressions
// wrongly; use Dynalite.
func Kumo(t testing.TB) string {
	t.Helper()
	kumoMu.Lock()
	defer kumoMu.Unlock()
	if kumoSrv == nil {
		kumoSrv = kumo.NewServer()
	}
	kumoRefs++
	srv := kumoSrv
	t.Cleanup(func() {
		kumoMu.Lock()
		defer kumoMu.Unlock()
		if kumoRefs--; kumoRefs == 0 {
			srv.Close()
			kumoSrv = nil
		}
	})
	return srv.URL
}

// AWSConfig returns an aws.Config for an emulator. It is built by hand rather
// than by config.LoadDefaultConfig so that no AWS_* variable or shared profile
// on the machine can send a test's requests to real AWS.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}
