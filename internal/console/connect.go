package console

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// connectorRow is a line of the connectors page.
type connectorRow struct {
	Name, Type, State, Class string
	Tasks, Failed            int
	TaskStates               []connect.TaskState
}

// connectors serves /connect: every connector of the Connect cluster
// behind Config.ConnectURL, with its tasks and their states.
func (c *Console) connectors(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Connect", "Token": c.token, "URL": redacted(c.connectURL)}
	if c.connect == nil {
		data["PageError"] = "no Connect worker: start the console with --connect-url"
		c.renderStatus(w, http.StatusNotFound, "connect", data)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	all, err := c.connect.ListExpanded(ctx, true, true)
	if err != nil {
		data["PageError"] = fmt.Sprintf("GET %s/connectors: %v", c.connectURL, err)
		c.renderStatus(w, http.StatusBadGateway, "connect", data)
		return
	}
	var rows []connectorRow
	for _, name := range slices.Sorted(maps.Keys(all)) {
		e := all[name]
		row := connectorRow{Name: name}
		if e.Info != nil {
			row.Type, row.Class = string(e.Info.Type), e.Info.Config[connect.KeyConnectorClass]
		}
		if e.Status != nil {
			row.State, row.TaskStates, row.Tasks = string(e.Status.Connector.State), e.Status.Tasks, len(e.Status.Tasks)
			for _, t := range e.Status.Tasks {
				if t.State == connect.Failed {
					row.Failed++
				}
			}
		}
		rows = append(rows, row)
	}
	data["Rows"] = rows
	c.render(w, "connect", data)
}

// connectAction runs a button of the connectors page: pause, resume,
// restart (with its failed tasks), stop or delete a connector, or create
// one from a JSON configuration.
func (c *Console) connectAction(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	fail := func(status int, err error) {
		c.renderStatus(w, status, "overview", map[string]any{"Title": "Error", "Error": err.Error()})
	}
	if c.connect == nil {
		fail(http.StatusNotFound, fmt.Errorf("no Connect worker: start the console with --connect-url"))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	name, action := r.PathValue("name"), r.PathValue("action")
	var err error
	switch action {
	case "pause":
		err = c.connect.Pause(ctx, name)
	case "resume":
		err = c.connect.Resume(ctx, name)
	case "stop":
		err = c.connect.Stop(ctx, name)
	case "restart":
		_, err = c.connect.Restart(ctx, name, true, true)
	case "delete":
		err = c.connect.Delete(ctx, name)
	default:
		fail(http.StatusNotFound, fmt.Errorf("no action %q", action))
		return
	}
	if err != nil {
		fail(http.StatusBadGateway, fmt.Errorf("%s connector %q: %w", action, name, err))
		return
	}
	http.Redirect(w, r, "/connect", http.StatusSeeOther)
}

// createConnector creates a connector from the page's JSON form: a flat
// object of string values (the "config" of POST /connectors), with its
// "name".
func (c *Console) createConnector(w http.ResponseWriter, r *http.Request) {
	if !c.checkForm(w, r) {
		return
	}
	fail := func(status int, err error) {
		c.renderStatus(w, status, "overview", map[string]any{"Title": "Error", "Error": err.Error()})
	}
	if c.connect == nil {
		fail(http.StatusNotFound, fmt.Errorf("no Connect worker: start the console with --connect-url"))
		return
	}
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(r.PostFormValue("config")))
	dec.UseNumber() // large numbers keep their digits
	if err := dec.Decode(&raw); err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("the configuration is not a JSON object: %w", err))
		return
	}
	cfg := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			cfg[k] = x
		case json.Number, bool:
			cfg[k] = fmt.Sprint(x)
		default:
			fail(http.StatusBadRequest, fmt.Errorf("%s: want a string, number or boolean", k))
			return
		}
	}
	if strings.TrimSpace(cfg[connect.KeyName]) == "" {
		fail(http.StatusBadRequest, fmt.Errorf(`the configuration needs a "name"`))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.connect.Create(ctx, cfg); err != nil {
		fail(http.StatusBadRequest, fmt.Errorf("create connector %q: %w", cfg[connect.KeyName], err))
		return
	}
	http.Redirect(w, r, "/connect#"+url.PathEscape(cfg[connect.KeyName]), http.StatusSeeOther)
}

// redacted is a URL without its user information (credentials).
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Redacted()
}
