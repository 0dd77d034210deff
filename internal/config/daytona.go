package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Daytona holds the settings of the Daytona sandbox engine (issue 7), used
// when QV_SANDBOX_PROVIDER=daytona.
type Daytona struct {
	APIURL   string // DAYTONA_API_URL (DAYTONA_SERVER_URL is the old name)
	APIKey   string // DAYTONA_API_KEY
	Target   string // DAYTONA_TARGET: the region, e.g. us or eu; empty is the organisation's default
	Snapshot string // DAYTONA_SNAPSHOT: empty is Daytona's default snapshot
	// Daytona's own idle timers. QuickVibe's idle stop
	// (QV_SANDBOX_IDLE_TIMEOUT) still applies; these catch sandboxes
	// QuickVibe is not running to stop.
	AutoStop    time.Duration // QV_DAYTONA_AUTO_STOP (default 30m; "off" disables)
	AutoArchive time.Duration // QV_DAYTONA_AUTO_ARCHIVE (default 24h)
	AutoDelete  time.Duration // QV_DAYTONA_AUTO_DELETE (default off: negative)
	// PreviewMode is "proxy" (QuickVibe's preview proxy forwards to
	// Daytona with the credential added server-side) or "signed" (the
	// browser gets Daytona's own expiring signed preview URL).
	PreviewMode string // QV_DAYTONA_PREVIEW
}

// DefaultDaytonaAPIURL is Daytona Cloud's API.
const DefaultDaytonaAPIURL = "https://app.daytona.io/api"

// Daytona preview modes.
const (
	DaytonaPreviewProxy  = "proxy"
	DaytonaPreviewSigned = "signed"
)

func loadDaytona(getenv func(string) string, errs *[]error) Daytona {
	get := func(key string) string { return strings.TrimSpace(getenv(key)) }
	d := Daytona{
		APIURL:      get("DAYTONA_API_URL"),
		APIKey:      get("DAYTONA_API_KEY"),
		Target:      get("DAYTONA_TARGET"),
		Snapshot:    get("DAYTONA_SNAPSHOT"),
		PreviewMode: get("QV_DAYTONA_PREVIEW"),
	}
	if d.APIURL == "" {
		d.APIURL = get("DAYTONA_SERVER_URL")
	}
	if d.APIURL == "" {
		d.APIURL = DefaultDaytonaAPIURL
	}
	if u, err := url.Parse(d.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		*errs = append(*errs, fmt.Errorf("DAYTONA_API_URL=%q: want an http(s) URL such as %s", d.APIURL, DefaultDaytonaAPIURL))
	}
	if d.PreviewMode == "" {
		d.PreviewMode = DaytonaPreviewProxy
	}
	if d.PreviewMode != DaytonaPreviewProxy && d.PreviewMode != DaytonaPreviewSigned {
		*errs = append(*errs, fmt.Errorf("QV_DAYTONA_PREVIEW=%q: want proxy (previews through QuickVibe) or signed (Daytona's signed URLs)", d.PreviewMode))
	}
	interval := func(key string, def time.Duration) time.Duration {
		v := get(key)
		switch {
		case v == "":
			return def
		case v == "off":
			return -1
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur < time.Minute {
			*errs = append(*errs, fmt.Errorf("%s=%q: want a duration of a minute or more, such as 30m or 24h, or off", key, v))
			return def
		}
		return dur
	}
	d.AutoStop = interval("QV_DAYTONA_AUTO_STOP", 30*time.Minute)
	d.AutoArchive = interval("QV_DAYTONA_AUTO_ARCHIVE", 24*time.Hour)
	d.AutoDelete = interval("QV_DAYTONA_AUTO_DELETE", -1)
	return d
}
