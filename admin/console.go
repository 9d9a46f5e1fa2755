package admin

import "net/http"

type pages struct{}

func loadPages() (*pages, error) { return &pages{}, nil }

// consoleRoutes is the operator console (SPEC §12).
func (h *Handler) consoleRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", http.NotFound)
	return mux
}
