package preview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReportPath is where the injected script posts browser errors, on the
// preview's own origin so no CORS is needed; the proxy answers it itself.
const ReportPath = "/__quickvibe/errors"

// reporterScript is injected into every HTML page the preview serves: it
// sends uncaught errors, unhandled rejections and console.error calls back,
// so the fix loop sees what broke in the browser.
const reporterScript = `<script data-quickvibe="error-reporter">(function(){
var sent=0;function send(kind,msg){if(sent++>20)return;try{var b=JSON.stringify({kind:kind,message:String(msg).slice(0,2000),url:location.pathname});
if(navigator.sendBeacon){navigator.sendBeacon(` + "`" + ReportPath + "`" + `,new Blob([b],{type:"application/json"}))}else{fetch(` + "`" + ReportPath + "`" + `,{method:"POST",body:b,keepalive:true})}}catch(e){}}
window.addEventListener("error",function(e){send("error",(e.message||"error")+(e.filename?" at "+e.filename+":"+e.lineno+":"+e.colno:""))});
window.addEventListener("unhandledrejection",function(e){var r=e.reason;send("unhandledrejection",r&&r.stack?r.stack:r)});
var ce=console.error;console.error=function(){try{send("console.error",Array.prototype.map.call(arguments,function(a){return a&&a.stack?a.stack:typeof a==="object"?JSON.stringify(a):String(a)}).join(" "))}catch(e){}return ce.apply(console,arguments)};
})();</script>`

// maxReports is how many reports are kept per sandbox.
const maxReports = 50

type report struct {
	at   time.Time
	text string
}

// reports holds the latest browser errors of each sandbox.
type reports struct {
	mu sync.Mutex
	by map[string][]report
}

func (rs *reports) add(sandboxID, text string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.by == nil {
		rs.by = map[string][]report{}
	}
	list := append(rs.by[sandboxID], report{at: time.Now(), text: text})
	if len(list) > maxReports {
		list = list[len(list)-maxReports:]
	}
	rs.by[sandboxID] = list
}

// BrowserErrors returns the errors pages of sandboxID reported since t,
// oldest first.
func (p *Proxy) BrowserErrors(sandboxID string, since time.Time) []string {
	p.reports.mu.Lock()
	defer p.reports.mu.Unlock()
	var out []string
	for _, r := range p.reports.by[sandboxID] {
		if !r.at.Before(since) {
			out = append(out, r.text)
		}
	}
	return out
}

// receiveReport stores one report posted by the injected script.
func (p *Proxy) receiveReport(w http.ResponseWriter, r *http.Request, sandboxID string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a JSON error report", http.StatusMethodNotAllowed)
		return
	}
	var rep struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		URL     string `json:"url"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&rep); err != nil || rep.Message == "" {
		http.Error(w, "want {kind, message, url}", http.StatusBadRequest)
		return
	}
	kind := rep.Kind
	if kind == "" {
		kind = "error"
	}
	p.reports.add(sandboxID, fmt.Sprintf("%s on %s: %s", truncate(kind, 40), truncate(rep.URL, 200), truncate(rep.Message, 2000)))
	w.WriteHeader(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// maxInjectBytes bounds the HTML pages that get the script; bigger ones
// pass through untouched rather than being held in memory.
const maxInjectBytes = 4 << 20

// injectReporter adds the reporter script to HTML responses that are not
// compressed, right after <head> (or at the start when there is none).
func injectReporter(resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "text/html" || resp.Header.Get("Content-Encoding") != "" || resp.StatusCode == http.StatusNoContent ||
		resp.Request.Method == http.MethodHead || resp.ContentLength > maxInjectBytes {
		return nil
	}
	orig := resp.Body
	body, err := io.ReadAll(io.LimitReader(orig, maxInjectBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxInjectBytes {
		// Too big to hold: send what was read and the rest as they are.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), orig), orig}
		return nil
	}
	orig.Close()
	at := 0
	lower := strings.ToLower(string(body))
	if i := strings.Index(lower, "<head"); i >= 0 {
		if j := strings.IndexByte(lower[i:], '>'); j >= 0 {
			at = i + j + 1
		}
	}
	out := make([]byte, 0, len(body)+len(reporterScript))
	out = append(append(append(out, body[:at]...), reporterScript...), body[at:]...)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	// A validator of the original page no longer matches what is sent.
	resp.Header.Del("ETag")
	return nil
}
