package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// SignedPreview is a short-lived preview URL and its token.
type SignedPreview struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// PreviewURL asks for a signed URL of the project's preview on port (0:
// the project type's port). Send Token as X-QV-Preview-Token, or open URL.
func (c *Client) PreviewURL(ctx context.Context, projectID string, port int) (SignedPreview, error) {
	path := "/api/projects/" + url.PathEscape(projectID) + "/preview-url"
	if port != 0 {
		path += "?port=" + strconv.Itoa(port)
	}
	var out SignedPreview
	err := c.call(ctx, "GET", path, nil, &out)
	return out, err
}

// Share is a project's share link; Token and URL are set only on creation.
type Share struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt"`
	Active    bool       `json:"active"`
	Token     string     `json:"token"`
	URL       string     `json:"url"`
}

// CreateShare makes a read-only link to the project; expiresIn 0 means it
// lasts until revoked.
func (c *Client) CreateShare(ctx context.Context, projectID string, expiresIn time.Duration) (Share, error) {
	in := map[string]string{}
	if expiresIn > 0 {
		in["expiresIn"] = expiresIn.String()
	}
	var out Share
	err := c.call(ctx, "POST", "/api/projects/"+url.PathEscape(projectID)+"/shares", in, &out)
	return out, err
}

// RevokeShare ends a share link.
func (c *Client) RevokeShare(ctx context.Context, projectID, shareID string) error {
	return c.call(ctx, "DELETE", "/api/projects/"+url.PathEscape(projectID)+"/shares/"+url.PathEscape(shareID), nil, nil)
}

// SetPublicPreview makes the project's preview public or private.
func (c *Client) SetPublicPreview(ctx context.Context, projectID string, public bool) error {
	return c.call(ctx, "PUT", "/api/projects/"+url.PathEscape(projectID)+"/visibility", map[string]bool{"publicPreview": public}, nil)
}

// SharedProject is what a share link shows.
type SharedProject struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Preview *SignedPreview `json:"preview"`
	Files   []File         `json:"files"`
}

// Shared reads a share link's project; it needs no sign-in.
func (c *Client) Shared(ctx context.Context, token string) (SharedProject, error) {
	var out SharedProject
	err := c.call(ctx, "GET", "/api/shares/"+url.PathEscape(token), nil, &out)
	return out, err
}

// Signup registers (first user, invitation or open registration).
func (c *Client) Signup(ctx context.Context, email, password, invite string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.call(ctx, "POST", "/api/auth/signup", map[string]string{"email": email, "password": password, "invite": invite}, &out)
	return out.User, err
}

// LogoutAll ends every session of the signed-in user.
func (c *Client) LogoutAll(ctx context.Context) error {
	return c.call(ctx, "POST", "/api/auth/logout-all", nil, nil)
}

// Invite is an admin's invitation.
type Invite struct {
	Email     string    `json:"email"`
	Token     string    `json:"token"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// CreateInvite (admins) lets email sign up.
func (c *Client) CreateInvite(ctx context.Context, email string) (Invite, error) {
	var out Invite
	err := c.call(ctx, "POST", "/api/admin/invites", map[string]string{"email": email}, &out)
	return out, err
}

// AdminUser is an account with its usage, as admins see it.
type AdminUser struct {
	User
	Disabled         bool `json:"disabled"`
	Projects         int  `json:"projects"`
	Runs             int  `json:"runs"`
	RunningSandboxes int  `json:"runningSandboxes"`
	RunsInProgress   int  `json:"runsInProgress"`
}

// Users (admins) lists every account.
func (c *Client) Users(ctx context.Context) ([]AdminUser, error) {
	var out struct {
		Users []AdminUser `json:"users"`
	}
	err := c.call(ctx, "GET", "/api/admin/users", nil, &out)
	return out.Users, err
}

// DisableUser (admins) disables an account and stops its sandboxes.
func (c *Client) DisableUser(ctx context.Context, id string) error {
	return c.call(ctx, "POST", "/api/admin/users/"+url.PathEscape(id)+"/disable", nil, nil)
}

// AuditEvent is one security event.
type AuditEvent struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"`
	ActorID string    `json:"actorId"`
	Subject string    `json:"subject"`
	Detail  string    `json:"detail"`
}

// Audit (admins) returns the newest security events.
func (c *Client) Audit(ctx context.Context) ([]AuditEvent, error) {
	var out struct {
		Events []AuditEvent `json:"events"`
	}
	err := c.call(ctx, "GET", "/api/admin/audit", nil, &out)
	return out.Events, err
}
