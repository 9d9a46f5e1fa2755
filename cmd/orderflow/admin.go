package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/secrets"
)

// devAdminActor is the actor of the development token `make run` prints.
const devAdminActor = "adm_dev"

func (a *app) adminCommand() *cobra.Command {
	return group("admin", "Admin API and console access (SPEC §12)",
		group("token", "Admin API tokens", a.adminTokenNewCommand()))
}

// tokenResult is what `admin token new` prints: the token, once, and the two
// ways to configure its hash.
type tokenResult struct {
	ActorID string `json:"actorId"`
	Role    string `json:"role"`
	// Token is shown this once; only its hash is ever configured.
	Token  string `json:"token"`
	SHA256 string `json:"sha256"`
	// ConfigLine is an ORDERFLOW_ADMIN_TOKENS entry.
	ConfigLine string `json:"configLine"`
	// SecretEntry is an element of the secret's "adminTokens" list.
	SecretEntry secrets.AdminToken `json:"secretEntry"`
}

func (a *app) adminTokenNewCommand() *cobra.Command {
	var actor, role string
	c := &cobra.Command{
		Use:   "new --actor <adminId> --role viewer|operator|service",
		Short: "Make a fresh random admin token and print it once with its config line",
		Long: `Make a fresh random admin token (256 bits) and print it once, with the two ways
to configure it: an ORDERFLOW_ADMIN_TOKENS entry (actorId:role:sha256) and an
element of the admin-tokens secret's "adminTokens" list. orderflow keeps only
the SHA-256; hand the token to its holder and do not store it anywhere else.
Roles: viewer (reads), operator (reads and actions), service (GET /v1/access).`,
		Example: `  orderflow admin token new --actor adm_7 --role operator
  orderflow admin token new --actor svc_products --role service | jq -r .configLine`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			actor = strings.TrimSpace(actor)
			if actor == "" || strings.ContainsAny(actor, ":, \t") {
				return usagef("admin token new needs --actor <adminId> without ':' ',' or spaces (recorded as actorId in timelines)")
			}
			switch role {
			case secrets.RoleViewer, secrets.RoleOperator, secrets.RoleService:
			default:
				return usagef("--role %q: want viewer, operator or service", role)
			}
			token, sum, err := admin.NewToken()
			if err != nil {
				return err
			}
			return a.printJSON(tokenResult{
				ActorID: actor, Role: role, Token: token, SHA256: sum,
				ConfigLine:  actor + ":" + role + ":" + sum,
				SecretEntry: secrets.AdminToken{ActorID: actor, Role: role, SHA256: sum},
			})
		},
	}
	c.Flags().StringVar(&actor, "actor", "", "the holder's id, recorded as actorId in every timeline entry they cause")
	c.Flags().StringVar(&role, "role", "", "viewer, operator or service")
	return c
}

// devToken is the development operator token serve added, for its banner.
type devToken struct{ token, path string }

// adminHandler builds the admin API and console for serve. With
// ORDERFLOW_DEV_ADMIN_TOKEN set it adds the development operator token kept
// in the data folder (made on first run) and returns it for serve's banner.
func (a *app) adminHandler(ctx context.Context, be *backend.Backend) (*admin.Handler, *devToken, error) {
	cfg := a.cfg
	var dev *devToken
	if cfg.DevAdminToken {
		token, path, err := devAdminToken(cfg)
		if err != nil {
			return nil, nil, err
		}
		entry := devAdminActor + ":" + secrets.RoleOperator + ":" + admin.HashToken(token)
		if cfg.AdminTokens != "" {
			entry = cfg.AdminTokens + "," + entry
		}
		cfg.AdminTokens = entry
		dev = &devToken{token: token, path: path}
	}
	h, err := admin.NewFromBackend(ctx, cfg, be, admin.Config{Logger: a.log, Metrics: a.metrics, Clock: a.clock})
	return h, dev, err
}

// printDevToken shows the development operator token and the console URL.
// A token made by this install: printing it is how the developer signs in,
// as with the dev webhook secret, and likewise only on a terminal, as a pipe
// or a service manager keeps what it collects in logs that others read.
func (a *app) printDevToken(dev *devToken, addr string) {
	if dev == nil {
		return
	}
	console := "http://" + addr + admin.QueuePath
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.stderr, "orderflow: console at %s; admin token (dev operator %s for /admin/v1 and /console/, kept in %s): %s\n", console, devAdminActor, dev.path, dev.token)
		return
	}
	fmt.Fprintf(a.stderr, "orderflow: console at %s; admin token (dev operator %s) is kept in %s; it is shown only when stderr is a terminal\n", console, devAdminActor, dev.path)
}

// devAdminToken returns the development operator token kept next to the
// database, making one on first run, and the file it is kept in.
func devAdminToken(cfg config.Config) (token, path string, err error) {
	dir := filepath.Dir(cfg.DBPath)
	path = filepath.Join(dir, "admin-token")
	if b, err := readPrivate(path); err == nil {
		if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, admin.TokenPrefix) {
			return s, path, nil
		}
		return "", "", fmt.Errorf("%s does not hold an admin token; delete it to make a new one", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create data folder: %w", err)
	}
	token, _, err = admin.NewToken()
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("keep the admin token: %w", err)
	}
	return token, path, nil
}
