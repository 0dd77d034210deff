package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadDaytona(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Daytona
	}{
		{"defaults", map[string]string{"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "dtn_k"}, Daytona{
			APIURL: DefaultDaytonaAPIURL, APIKey: "dtn_k", PreviewMode: DaytonaPreviewProxy,
			AutoStop: 30 * time.Minute, AutoArchive: 24 * time.Hour, AutoDelete: -1,
		}},
		{"everything set", map[string]string{
			"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "dtn_k", "DAYTONA_API_URL": "http://daytona.internal:3000/api",
			"DAYTONA_TARGET": "eu", "DAYTONA_SNAPSHOT": "qv-node", "QV_DAYTONA_PREVIEW": "signed",
			"QV_DAYTONA_AUTO_STOP": "off", "QV_DAYTONA_AUTO_ARCHIVE": "2h", "QV_DAYTONA_AUTO_DELETE": "720h",
		}, Daytona{
			APIURL: "http://daytona.internal:3000/api", APIKey: "dtn_k", Target: "eu", Snapshot: "qv-node", PreviewMode: DaytonaPreviewSigned,
			AutoStop: -1, AutoArchive: 2 * time.Hour, AutoDelete: 720 * time.Hour,
		}},
		{"old server url name", map[string]string{"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "dtn_k", "DAYTONA_SERVER_URL": "https://d.example/api"}, Daytona{
			APIURL: "https://d.example/api", APIKey: "dtn_k", PreviewMode: DaytonaPreviewProxy,
			AutoStop: 30 * time.Minute, AutoArchive: 24 * time.Hour, AutoDelete: -1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(envOf(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.Daytona); diff != "" {
				t.Errorf("Daytona config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDaytonaErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no key", map[string]string{"QV_SANDBOX_PROVIDER": "daytona"}, "needs DAYTONA_API_KEY"},
		{"bad url", map[string]string{"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "k", "DAYTONA_API_URL": "app.daytona.io"}, "DAYTONA_API_URL"},
		{"bad preview mode", map[string]string{"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "k", "QV_DAYTONA_PREVIEW": "public"}, "QV_DAYTONA_PREVIEW"},
		{"interval too short", map[string]string{"QV_SANDBOX_PROVIDER": "daytona", "DAYTONA_API_KEY": "k", "QV_DAYTONA_AUTO_STOP": "10s"}, "QV_DAYTONA_AUTO_STOP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
