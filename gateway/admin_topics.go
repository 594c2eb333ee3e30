package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// TopicRules deploys and rolls back the topic rules of the cluster (or of this node alone),
// which every node's WebSocket hub then uses (docs/manifest.md, "Topic rules").
type TopicRules interface {
	// Deploy makes the `kind: topics` documents of files the rules, as a new version.
	Deploy(ctx context.Context, files []cluster.RulesFile, o runtime.ChangeOptions) (cluster.RulesResult, error)
	// Rollback makes the version before the current one current again.
	Rollback(ctx context.Context, o runtime.ChangeOptions) (cluster.RulesResult, error)
	// Current returns the current version (found false: none deployed) and the kept ones.
	Current(ctx context.Context) (cluster.RulesEntry, cluster.RulesState, bool, error)
}

var _ TopicRules = (*cluster.Rules)(nil)

// rulesBody is the JSON body of PUT /admin/v1/topics.
type rulesBody struct {
	Files []cluster.RulesFile `json:"files"`
}

// rulesView answers GET /admin/v1/topics.
type rulesView struct {
	Version    int                 `json:"version"`
	Versions   []int               `json:"versions"`
	Files      []cluster.RulesFile `json:"files"`
	DeployedAt time.Time           `json:"deployedAt"`
	DeployedBy string              `json:"deployedBy,omitempty"`
	Node       string              `json:"node,omitempty"`
}

func (s *Server) noRules(c *fiber.Ctx) error {
	return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "this gateway does not deploy topic rules")
}

// adminRules answers the current topic rules: 404 when none were deployed.
func (s *Server) adminRules(c *fiber.Ctx) error {
	if s.cfg.Rules == nil {
		return s.noRules(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, st, found, err := s.cfg.Rules.Current(ctx)
	if err != nil {
		return sendError(c, fiber.StatusInternalServerError, "internal", err.Error())
	}
	if !found {
		return sendError(c, fiber.StatusNotFound, "not_found", "no topic rules are deployed")
	}
	return c.JSON(rulesView{Version: e.Version, Versions: st.Versions, Files: e.Files,
		DeployedAt: e.DeployedAt, DeployedBy: e.DeployedBy, Node: e.Node})
}

// adminDeployRules deploys topic rules: a JSON body {"files":[{"file","source"}]}, or the
// YAML of one file, named by ?file= (default topics.yaml).
func (s *Server) adminDeployRules(c *fiber.Ctx) error {
	if s.cfg.Rules == nil {
		return s.noRules(c)
	}
	o, err := changeOptions(c)
	if err != nil {
		return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
	}
	if len(c.Body()) > maxManifestBytes {
		return sendError(c, fiber.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("topic rules over %d bytes", maxManifestBytes))
	}
	var files []cluster.RulesFile
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		var b rulesBody
		if err := json.Unmarshal(c.Body(), &b); err != nil {
			return sendError(c, fiber.StatusBadRequest, "bad_request", "body: "+err.Error())
		}
		files = b.Files
	} else {
		files = []cluster.RulesFile{{File: c.Query("file", "topics.yaml"), Source: string(c.Body())}}
	}
	res, err := s.cfg.Rules.Deploy(context.Background(), files, o)
	if err != nil {
		return sendRulesError(c, err)
	}
	return c.JSON(res)
}

func (s *Server) adminRollbackRules(c *fiber.Ctx) error {
	if s.cfg.Rules == nil {
		return s.noRules(c)
	}
	o, err := changeOptions(c)
	if err != nil {
		return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
	}
	res, err := s.cfg.Rules.Rollback(context.Background(), o)
	if err != nil {
		return sendRulesError(c, err)
	}
	return c.JSON(res)
}

// sendRulesError answers a failed change of the topic rules: invalid manifests with every
// problem (file:line), the runtime's errors with their status.
func sendRulesError(c *fiber.Ctx, err error) error {
	var list manifest.ErrorList
	if errors.As(err, &list) {
		details := make([]string, len(list))
		for i, e := range list {
			details[i] = e.Error()
		}
		return sendError(c, fiber.StatusBadRequest, "invalid_manifest", fmt.Sprintf("%d manifest errors", len(list)), details...)
	}
	var re *runtime.Error
	if errors.As(err, &re) {
		return sendError(c, re.Status, re.Code, re.Message)
	}
	if errors.Is(err, cluster.ErrNoRules) {
		return sendError(c, fiber.StatusBadRequest, "invalid_manifest", err.Error())
	}
	return sendError(c, fiber.StatusInternalServerError, "internal", err.Error())
}
