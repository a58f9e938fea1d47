/// The pages' mustache templates and stylesheet, compiled into the binary
/// (nothing is read from disk or fetched from elsewhere). `{{name}}`
/// escapes `& < > " '`, so names, ids and key names are safe in text and in
/// quoted attributes; the only triple-stash is `{{{content}}}`, a page
/// already rendered from these templates.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "sign-in": signIn, "secrets": secrets, "confirm-delete": confirmDelete,
        "keys": keys, "key-created": keyCreated, "confirm-revoke": confirmRevoke, "audit": audit, "message": message,
    ]

    static let layout = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>{{title}} · secretfill</title>
        <link rel="stylesheet" href="/ui/style.css">
        </head>
        <body>
        <header>
        <span class="brand">secretfill</span>
        {{#session}}
        <nav>
        <a href="/ui/team"{{#navTeam}} aria-current="page"{{/navTeam}}>Team</a>
        {{#projects}}<a href="/ui/project/{{.}}">project {{.}}</a>{{/projects}}
        {{#clusters}}<a href="/ui/cluster/{{.}}">cluster {{.}}</a>{{/clusters}}
        {{#isAdmin}}<a href="/ui/keys"{{#navKeys}} aria-current="page"{{/navKeys}}>API Keys</a> <a href="/ui/audit"{{#navAudit}} aria-current="page"{{/navAudit}}>Audit</a>{{/isAdmin}}
        </nav>
        <form id="open-scope" method="get" action="/ui/open">
        <select name="kind"><option value="project">project</option><option value="cluster">cluster</option></select>
        <input name="id" placeholder="id" required maxlength="128" spellcheck="false">
        <button type="submit">Open</button>
        </form>
        <form id="sign-out" method="post" action="/sign-out">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span class="who">key {{keyName}}</span> <button type="submit">Sign out</button>
        </form>
        {{/session}}
        </header>
        <main>
        {{{content}}}
        </main>
        </body>
        </html>

        """

    static let signIn = """
        <h1>Sign in</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form id="sign-in" method="post" action="/sign-in">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>API key <input type="password" name="token" autocomplete="off" spellcheck="false" required></label>
        <button type="submit">Sign in</button>
        </form>
        <p class="note">An API key from <code>secretfill keys create</code>. It is sent once, to start a session, and kept nowhere in the browser.</p>

        """

    static let secrets = """
        <h1>{{scopeTitle}} secrets</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#hasRows}}
        <table id="secrets">
        <thead><tr><th>Name</th><th>Updated</th><th>By key</th><th></th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-secret="{{name}}">
        <td class="name">{{name}}{{#shadows}} <span class="shadow">shadows the {{shadows}} secret of that name</span>{{/shadows}}</td>
        <td>{{updated}}</td>
        <td>{{updatedBy}}</td>
        <td>{{#canWrite}}<form method="get" action="{{base}}/delete"><input type="hidden" name="name" value="{{name}}"><button type="submit">Delete</button></form>{{/canWrite}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        {{/hasRows}}
        {{^hasRows}}<p class="empty">No secrets in {{scopeText}} yet.</p>{{/hasRows}}
        {{#canWrite}}
        <h2>Add a secret</h2>
        <form id="add-secret" method="post" action="{{base}}/add">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" value="{{formName}}" required maxlength="128" spellcheck="false" autocomplete="off"></label>
        <label>Value <input type="password" name="value" required autocomplete="new-password" spellcheck="false"></label>
        <button type="submit">Add</button>
        </form>
        <p class="note">Setting a name that exists makes the new value current. Values are never shown again.</p>
        {{/canWrite}}

        """

    static let confirmDelete = """
        <h1>Delete {{scopeText}} secret '{{name}}'?</h1>
        <form id="confirm-delete" method="post" action="{{base}}/delete">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <button type="submit" class="danger">Delete</button>
        <a href="{{base}}">Cancel</a>
        </form>

        """

    static let keys = """
        <h1>API Keys</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <table id="keys">
        <thead><tr><th>Name</th><th>Grants</th><th>Created</th><th>Last used</th><th>Expires</th><th></th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-key="{{name}}">
        <td class="name">{{name}}</td>
        <td class="grants">{{#grants}}<code>{{.}}</code> {{/grants}}</td>
        <td>{{created}}</td>
        <td>{{lastUsed}}</td>
        <td>{{expires}}</td>
        <td>{{#revoked}}revoked {{revoked}}{{/revoked}}{{^revoked}}<form method="get" action="/ui/keys/revoke"><input type="hidden" name="name" value="{{name}}"><button type="submit">Revoke</button></form>{{/revoked}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        <h2>Create a key</h2>
        <form id="create-key" method="post" action="/ui/keys/create">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" value="{{formName}}" required maxlength="128" spellcheck="false" autocomplete="off"></label>
        <label>Grants, one per line <textarea name="grants" rows="3" spellcheck="false" required>{{formGrants}}</textarea></label>
        <label>Expires after (optional: 90d, 12h, 30m) <input name="expires" value="{{formExpires}}" spellcheck="false" autocomplete="off"></label>
        <button type="submit">Create</button>
        </form>
        <p class="note">A grant is <code>admin</code>, <code>team:ACCESS</code>, <code>project:ID:ACCESS</code> or <code>cluster:ID:ACCESS</code> (ID may be *); ACCESS is names, read or write.</p>

        """

    static let keyCreated = """
        <h1>Created key '{{name}}'</h1>
        <p>Its token: <code id="new-token">{{token}}</code></p>
        <p class="notice">Copy it now: it is not shown again (the server keeps only its digest).</p>
        <p><a href="/ui/keys">Back to API Keys</a></p>

        """

    static let confirmRevoke = """
        <h1>Revoke key '{{name}}'?</h1>
        <p>Anything using it stops working at once.</p>
        <form id="confirm-revoke" method="post" action="/ui/keys/revoke">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <button type="submit" class="danger">Revoke</button>
        <a href="/ui/keys">Cancel</a>
        </form>

        """

    static let audit = """
        <h1>Audit log</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form id="audit-filter" method="get" action="/ui/audit">
        <label>Key <input name="key" value="{{filterKey}}" spellcheck="false"></label>
        <label>Secret <input name="secret" value="{{filterSecret}}" spellcheck="false"></label>
        <button type="submit">Filter</button>
        </form>
        <table id="audit">
        <thead><tr><th>Time</th><th>Key</th><th>Action</th><th>Scope</th><th>Names</th><th>Outcome</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr><td>{{time}}</td><td>{{key}}</td><td>{{action}}</td><td>{{scope}}</td><td class="names">{{names}}</td><td class="{{outcome}}">{{outcome}}{{#count}} ×{{count}}{{/count}}</td></tr>
        {{/rows}}
        </tbody>
        </table>
        {{#older}}<p><a id="older" href="{{older}}">Older entries</a></p>{{/older}}

        """

    static let message = """
        <h1>{{title}}</h1>
        <p class="error" role="alert">{{message}}</p>
        {{#back}}<p><a href="{{back}}">Back</a></p>{{/back}}

        """

    static let stylesheet = """
        :root { color-scheme: light dark; --accent: #2f6fde; --line: #8884; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; }
        header { display: flex; flex-wrap: wrap; gap: .8em 1.5em; align-items: center; padding: .7em 1.2em; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; }
        nav { display: flex; flex-wrap: wrap; gap: .3em 1em; }
        nav a[aria-current] { font-weight: 700; }
        #sign-out { margin-left: auto; }
        main { padding: 1em 1.2em; max-width: 60em; }
        table { border-collapse: collapse; width: 100%; margin: 1em 0; }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
        td.grants, td.names { white-space: normal; }
        td form { margin: 0; }
        .name { font-family: ui-monospace, monospace; }
        .shadow { font: .85em system-ui, sans-serif; opacity: .75; }
        form label { display: block; margin: .5em 0; }
        form#open-scope label, header form label { display: inline; }
        input, textarea, select, button { font: inherit; }
        input, textarea { padding: .25em .4em; }
        textarea { width: 100%; max-width: 30em; display: block; }
        button { padding: .25em .8em; }
        button.danger { background: #c0392b; color: #fff; border: 1px solid #922; }
        .error { color: #c0392b; }
        .notice { color: #1e7d32; }
        .denied { color: #c0392b; }
        .note, .empty, .who { opacity: .75; }
        code#new-token { user-select: all; padding: .2em .4em; border: 1px solid var(--line); }

        """
}
