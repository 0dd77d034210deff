package project

import (
	"strings"
	"testing"
)

func TestStarters(t *testing.T) {
	wantEntry := map[string]string{
		"website": "script.js", "react": "src/main.tsx", "game": "game.js",
		"mobile": "manifest.webmanifest", "dashboard": "dashboard.js", "api": "server.js",
	}
	if len(Types()) != len(wantEntry) {
		t.Fatalf("%d types, want %d", len(Types()), len(wantEntry))
	}
	for _, pt := range Types() {
		files, err := Starter(pt.ID)
		if err != nil {
			t.Fatalf("Starter(%s): %v", pt.ID, err)
		}
		entry, ok := wantEntry[pt.ID]
		if !ok {
			t.Errorf("unexpected type %s", pt.ID)
			continue
		}
		if len(files[entry]) == 0 {
			t.Errorf("starter of %s lacks %s; has %v", pt.ID, entry, StarterPaths(files))
		}
		if pt.Agent.Badge == "" || pt.Agent.Description == "" || pt.DevCommand == "" || pt.Port == 0 {
			t.Errorf("type %+v lacks its agent, dev command or port", pt)
		}
	}
	if vite := string(mustStarter(t, "react")["vite.config.ts"]); !strings.Contains(vite, `host: "0.0.0.0"`) || !strings.Contains(vite, "allowedHosts: true") {
		t.Errorf("vite.config.ts does not bind 0.0.0.0 and accept the preview host:\n%s", vite)
	}
	if _, err := Starter("nope"); err == nil {
		t.Error("Starter(nope) succeeded")
	}
}

func mustStarter(t *testing.T, id string) map[string][]byte {
	t.Helper()
	f, err := Starter(id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
