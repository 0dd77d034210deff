package version

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Remote is where a project's history is pushed.
type Remote struct {
	URL      string
	HasToken bool
}

// remoteFile is stored as <project dir>/remote.json, mode 0600, in the
// server's data directory: never in the repository's config, never inside
// a sandbox. The token is in plain text there, protected by the file mode
// and the data directory's (0750) permissions, like the database itself.
type remoteFile struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// ErrNoRemote means no remote is configured.
var ErrNoRemote = errors.New("version: no remote is configured")

// InvalidRemoteError says what is wrong with a remote, fit for users.
type InvalidRemoteError struct{ Msg string }

func (e *InvalidRemoteError) Error() string { return e.Msg }

// PushError is a push the remote refused, with a reason fit for users.
type PushError struct{ Msg string }

func (e *PushError) Error() string { return e.Msg }

// checkRemoteURL accepts https:// URLs, and http:// only to loopback
// hosts (a local git server); credentials belong in the token, not the URL.
func checkRemoteURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, &InvalidRemoteError{Msg: "the remote URL must look like https://host/owner/repo.git"}
	}
	if _, ok := u.User.Password(); ok {
		return nil, &InvalidRemoteError{Msg: "put the password or token in the token field, not in the URL"}
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, &InvalidRemoteError{Msg: "plain http:// is allowed only to this machine (localhost); use https://"}
		}
	default:
		return nil, &InvalidRemoteError{Msg: fmt.Sprintf("remote URLs must use https:// (got %q)", u.Scheme)}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, &InvalidRemoteError{Msg: "the remote URL must not have a query or fragment"}
	}
	return u, nil
}

// SetRemote configures where Push sends the history. An empty token keeps
// the one stored before, if the URL's host is unchanged.
func (s *Service) SetRemote(ctx context.Context, projectID, rawURL, token string) (Remote, error) {
	u, err := checkRemoteURL(strings.TrimSpace(rawURL))
	if err != nil {
		return Remote{}, err
	}
	if strings.ContainsAny(token, "\r\n") {
		return Remote{}, &InvalidRemoteError{Msg: "the token must be one line"}
	}
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return Remote{}, err
	}
	unlock := s.lock(projectID)
	defer unlock()
	if token == "" {
		if old, err := readRemote(pdir); err == nil {
			if ou, err := url.Parse(old.URL); err == nil && ou.Host == u.Host {
				token = old.Token
			}
		}
	}
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return Remote{}, err
	}
	data, err := json.Marshal(remoteFile{URL: u.String(), Token: token})
	if err != nil {
		return Remote{}, err
	}
	tmp, err := os.CreateTemp(pdir, "remote-")
	if err != nil {
		return Remote{}, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return Remote{}, err
	}
	if err := tmp.Close(); err != nil {
		return Remote{}, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(pdir, "remote.json")); err != nil {
		return Remote{}, err
	}
	return Remote{URL: u.String(), HasToken: token != ""}, nil
}

// GetRemote returns the configured remote, or ErrNoRemote.
func (s *Service) GetRemote(ctx context.Context, projectID string) (Remote, error) {
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return Remote{}, err
	}
	rf, err := readRemote(pdir)
	if err != nil {
		return Remote{}, err
	}
	return Remote{URL: rf.URL, HasToken: rf.Token != ""}, nil
}

func readRemote(pdir string) (remoteFile, error) {
	data, err := os.ReadFile(filepath.Join(pdir, "remote.json"))
	if errors.Is(err, os.ErrNotExist) {
		return remoteFile{}, ErrNoRemote
	}
	if err != nil {
		return remoteFile{}, err
	}
	var rf remoteFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return remoteFile{}, fmt.Errorf("read remote config: %w", err)
	}
	return rf, nil
}

// Push sends the project's history (its main branch) to the remote. The
// token travels as an HTTP Authorization header set through git's
// GIT_CONFIG_* environment for this one call: never on a command line
// other processes can read, never in the repository's config.
func (s *Service) Push(ctx context.Context, projectID string) error {
	pdir, err := s.projectDir(projectID)
	if err != nil {
		return err
	}
	rf, err := readRemote(pdir)
	if err != nil {
		return err
	}
	if _, err := s.ResolveOrLatest(ctx, projectID, ""); err != nil {
		return err
	}
	g, err := s.repo(ctx, projectID, false)
	if err != nil {
		return err
	}
	u, err := checkRemoteURL(rf.URL)
	if err != nil {
		return err
	}
	// No credential helper, and no redirects: a redirect to another host
	// would carry the Authorization header there.
	env := []string{
		"GIT_CONFIG_COUNT=3",
		"GIT_CONFIG_KEY_0=credential.helper", "GIT_CONFIG_VALUE_0=",
		"GIT_CONFIG_KEY_1=http.followRedirects", "GIT_CONFIG_VALUE_1=false",
	}
	secret := ""
	if rf.Token != "" {
		user := "x-access-token" // what GitHub expects; Gitea and GitLab accept any name
		if u.User != nil && u.User.Username() != "" {
			user = u.User.Username()
		}
		secret = base64.StdEncoding.EncodeToString([]byte(user + ":" + rf.Token))
		env = append(env, "GIT_CONFIG_KEY_2=http.extraHeader", "GIT_CONFIG_VALUE_2=Authorization: Basic "+secret)
	} else {
		env = append(env, "GIT_CONFIG_KEY_2=http.extraHeader", "GIT_CONFIG_VALUE_2=")
	}
	_, err = g.run(ctx, cmdOpts{env: env}, "push", "--quiet", "--porcelain", "--", rf.URL, branch+":"+branch)
	if err == nil {
		return nil
	}
	var ge *gitError
	if !errors.As(err, &ge) {
		return err
	}
	msg := ge.Stderr
	for _, secretish := range []string{rf.Token, secret} {
		if secretish != "" {
			msg = strings.ReplaceAll(msg, secretish, "***")
		}
	}
	s.logger.Warn("push failed", "project_id", projectID, "remote", rf.URL, "stderr", msg)
	switch low := strings.ToLower(msg); {
	case strings.Contains(low, "authentication failed"), strings.Contains(low, "401"), strings.Contains(low, "403"),
		strings.Contains(low, "could not read username"):
		return &PushError{Msg: "the remote refused the credentials: check the token and that it may push to " + rf.URL}
	case strings.Contains(low, "non-fast-forward"), strings.Contains(low, "fetch first"), strings.Contains(low, "rejected"):
		return &PushError{Msg: "the remote's main branch has commits this project does not: push to an empty repository or another one"}
	case strings.Contains(low, "could not resolve host"), strings.Contains(low, "failed to connect"), strings.Contains(low, "connection refused"):
		return &PushError{Msg: "the remote " + rf.URL + " could not be reached"}
	case strings.Contains(low, "not found"), strings.Contains(low, "404"):
		return &PushError{Msg: "the remote repository " + rf.URL + " was not found"}
	}
	return &PushError{Msg: "the push failed: " + firstLine(msg)}
}
