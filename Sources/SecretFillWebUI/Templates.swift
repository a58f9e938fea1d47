/// The pages' mustache templates and stylesheet, compiled into the binary
/// (nothing is read from disk or fetched from elsewhere). `{{name}}`
/// escapes `& < > " '`, so names, ids and key names are safe in text and in
/// quoted attributes; the only triple-stash is `{{{content}}}`, a page
/// already rendered from these templates.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "sign-in": signIn, "secrets": secrets, "confirm-delete": confirmDelete,
        "keys": keys, "key-created": keyCreated, "confirm-revoke": confirmRevoke, "audit": audit, "message": message,
        "time": time, "secrets-index": secretsIndex, "history": history, "confirm-rollback": confirmRollback, "confirm-replace": confirmReplace,
        "confirm-role-delete": confirmRoleDelete, "members": members, "confirm-member-remove": confirmMemberRemove,
        "signed-in": signedIn, "sign-in-refused": signInRefused,
    ]

    /// One time (a section over `WebUITime.fields`): UTC, with a relative hint.
    static let time = """
        {{#known}}<time datetime="{{iso}}">{{utc}}</time>{{#ago}} <span class="ago">({{ago}})</span>{{/ago}}{{/known}}{{^known}}{{utc}}{{/known}}
        """

    static let layout = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>{{title}} · secretfill</title>
        {{#refresh}}<meta http-equiv="refresh" content="0; url={{refresh}}">{{/refresh}}
        <link rel="stylesheet" href="/ui/style.css">
        </head>
        <body>
        <header>
        <span class="brand">secretfill</span>
        {{#session}}
        <nav>
        <a href="/ui/team"{{#navTeam}} aria-current="page"{{/navTeam}}>Team</a>
        <a href="/ui/secrets"{{#navSecrets}} aria-current="page"{{/navSecrets}}>Secrets</a>
        <details class="menu" id="menu-projects"><summary{{#navProjects}} class="current"{{/navProjects}}>Projects</summary><div class="menu-list">
        {{#projects}}<a href="/ui/project/{{.}}">project {{.}}</a>{{/projects}}
        <a href="/ui/secrets?kind=project">{{#moreProjects}}All {{projectCount}} projects{{/moreProjects}}{{^moreProjects}}All projects{{/moreProjects}}</a>
        </div></details>
        <details class="menu" id="menu-clusters"><summary{{#navClusters}} class="current"{{/navClusters}}>Clusters</summary><div class="menu-list">
        {{#clusters}}<a href="/ui/cluster/{{.}}">cluster {{.}}</a>{{/clusters}}
        <a href="/ui/secrets?kind=cluster">{{#moreClusters}}All {{clusterCount}} clusters{{/moreClusters}}{{^moreClusters}}All clusters{{/moreClusters}}</a>
        </div></details>
        {{#isAdmin}}<a href="/ui/keys"{{#navKeys}} aria-current="page"{{/navKeys}}>API Keys</a> <a href="/ui/members"{{#navMembers}} aria-current="page"{{/navMembers}}>Members</a> <a href="/ui/audit"{{#navAudit}} aria-current="page"{{/navAudit}}>Audit</a>{{/isAdmin}}
        </nav>
        <form id="open-scope" method="get" action="/ui/open">
        <select name="kind" aria-label="kind"><option value="project">project</option><option value="cluster">cluster</option></select>
        <input name="id" placeholder="id" aria-label="id" required maxlength="128" spellcheck="false">
        <button type="submit">Open</button>
        </form>
        <form id="sign-out" method="post" action="/sign-out">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span class="who">{{who}}</span> <button type="submit">Sign out</button>
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
        {{#provider}}
        <form id="sign-in-sso" method="post" action="/ui/oidc/start">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Sign in with {{provider}}</button>
        </form>
        <p class="note">Your company's sign-in. An admin adds you as a member (<code>secretfill members add</code>) first.</p>
        {{/provider}}
        {{#keySignIn}}
        {{#provider}}<h2>Or with an API key</h2>{{/provider}}
        <form id="sign-in" method="post" action="/sign-in">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>API key <input type="password" name="token" autocomplete="off" spellcheck="false" required></label>
        <button type="submit">Sign in</button>
        </form>
        <p class="note">An API key from <code>secretfill keys create</code>. It is sent once, to start a session, and kept nowhere in the browser.</p>
        {{/keySignIn}}

        """

    /// After the provider's redirect: this server's own page moves on to the
    /// team page, a same-site navigation that carries the Strict session cookie.
    static let signedIn = """
        <h1>Signed in</h1>
        <p class="notice" role="status">Signed in. <a id="continue" href="/ui/team">Continue to the team's secrets</a></p>

        """

    static let signInRefused = """
        <h1>{{title}}</h1>
        <p class="error" role="alert">{{message}}</p>
        <p><a href="/">Back to sign-in</a></p>

        """

    static let secrets = """
        <h1>{{scopeTitle}} secrets</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#hasRows}}
        <div class="scroll">
        <table id="secrets">
        <thead><tr><th>Name</th><th>Updated (UTC)</th><th>By key</th><th></th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-secret="{{name}}">
        <td class="name">{{name}}{{#shadows}} <span class="shadow">shadows the {{shadows}} secret of that name</span>{{/shadows}}</td>
        <td class="when">{{#updated}}{{> time}}{{/updated}}</td>
        <td>{{updatedBy}}</td>
        <td class="actions">{{#canWrite}}<a class="history" href="{{base}}/history?name={{name}}">History</a> <form method="get" action="{{base}}/delete"><input type="hidden" name="name" value="{{name}}"><button type="submit">Delete</button></form>{{/canWrite}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        {{/hasRows}}
        {{^hasRows}}<p class="empty">No secrets in {{scopeText}} yet.</p>{{/hasRows}}
        {{#canWrite}}
        <h2>Add a secret</h2>
        <form id="add-secret" method="post" action="{{base}}/add">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" value="{{formName}}" required maxlength="128" spellcheck="false" autocomplete="off"></label>
        <label>Value <input type="password" name="value" required autocomplete="new-password" spellcheck="false"></label>
        <label class="check"><input type="checkbox" name="replace" value="1"> Replace the value if the name exists, without asking</label>
        <button type="submit">Add</button>
        </form>
        <p class="note">Adding a name that exists asks first, then makes the new value current (<strong>Updated</strong>); the old value stays in its history. Values are never shown again.</p>
        {{/canWrite}}

        """

    static let confirmReplace = """
        <h1>Replace the value of {{scopeText}} secret '{{name}}'?</h1>
        <p>It has a value already. Type the new value again to replace it: the one you sent was not kept. The old value stays in its history.</p>
        <form id="confirm-replace" method="post" action="{{base}}/add">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <input type="hidden" name="replace" value="1">
        <label>New value <input type="password" name="value" required autocomplete="new-password" spellcheck="false"></label>
        <button type="submit" class="danger">Replace</button>
        <a href="{{base}}">Cancel</a>
        </form>

        """

    static let secretsIndex = """
        <h1>Secrets</h1>
        <form id="scope-filter" method="get" action="/ui/secrets">
        <label>Filter <input name="q" value="{{q}}" maxlength="128" spellcheck="false" autocomplete="off" placeholder="id or part of it"></label>
        <label>Kind <select name="kind"><option value=""{{#kindAll}} selected{{/kindAll}}>all</option><option value="team"{{#kindTeam}} selected{{/kindTeam}}>team</option><option value="project"{{#kindProject}} selected{{/kindProject}}>project</option><option value="cluster"{{#kindCluster}} selected{{/kindCluster}}>cluster</option></select></label>
        <button type="submit">Filter</button>
        </form>
        <p class="note" id="scope-count">{{shownCount}} of {{total}} scopes with secrets you may list</p>
        {{#hasRows}}
        <div class="scroll">
        <table id="scopes">
        <thead><tr><th>Scope</th><th>Secrets</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-scope="{{text}}"><td><a href="{{href}}">{{text}}</a></td><td class="count">{{count}}</td></tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        {{/hasRows}}
        {{^hasRows}}<p class="empty">No scope matches.</p>{{/hasRows}}

        """

    static let history = """
        <h1>History of {{scopeText}} secret '{{name}}'</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#deleted}}<p class="note">The name is deleted; its kept versions remain, and rolling back makes it current again.</p>{{/deleted}}
        <div class="scroll">
        <table id="history">
        <thead><tr><th>Version</th><th>Time (UTC)</th><th>By key</th><th></th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-version="{{version}}">
        <td>{{version}}{{#current}} <span class="current">current</span>{{/current}}</td>
        <td class="when">{{#time}}{{> time}}{{/time}}</td>
        <td>{{key}}</td>
        <td>{{#canRollBack}}<form method="get" action="{{base}}/rollback"><input type="hidden" name="name" value="{{name}}"><input type="hidden" name="version" value="{{version}}"><button type="submit">Roll back</button></form>{{/canRollBack}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        <p class="note">The last versions are kept, newest first; values are never shown. <a href="{{base}}">Back to {{scopeText}}</a></p>

        """

    static let confirmRollback = """
        <h1>Roll back {{scopeText}} secret '{{name}}' to version {{version}}?</h1>
        <p>Version {{version}}'s value becomes current again, as a new version; the value it replaces stays in the history.</p>
        <form id="confirm-rollback" method="post" action="{{base}}/rollback">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <input type="hidden" name="version" value="{{version}}">
        <button type="submit" class="danger">Roll back</button>
        <a href="{{base}}/history?name={{name}}">Cancel</a>
        </form>

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
        <div class="scroll">
        <table id="keys">
        <thead><tr><th>Name</th><th>Grants</th><th>Created (UTC)</th><th>Last used</th><th>Expires</th><th></th></tr></thead>
        <tbody>
        {{#rows}}
        <tr data-key="{{name}}">
        <td class="name">{{name}}</td>
        <td class="grants">{{#grants}}<code>{{.}}</code> {{/grants}}</td>
        <td class="when">{{#created}}{{> time}}{{/created}}</td>
        <td class="when">{{#lastUsed}}{{> time}}{{/lastUsed}}</td>
        <td class="when">{{#expires}}{{> time}}{{/expires}}</td>
        <td class="when">{{#revoked}}revoked {{revoked}}{{/revoked}}{{^revoked}}{{#expired}}expired{{/expired}}{{^expired}}<form method="get" action="/ui/keys/revoke"><input type="hidden" name="name" value="{{name}}"><button type="submit">Revoke</button></form>{{/expired}}{{/revoked}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        {{#hasHidden}}<p><a id="show-revoked" href="/ui/keys?all=1">Show revoked and expired keys ({{hiddenCount}})</a></p>{{/hasHidden}}
        {{#showAll}}<p><a id="hide-revoked" href="/ui/keys">Hide revoked and expired keys</a></p>{{/showAll}}
        <h2>Create a key</h2>
        <form id="create-key" method="post" action="/ui/keys/create">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" value="{{formName}}" required maxlength="128" spellcheck="false" autocomplete="off"></label>
        <label>Grants, one per line <textarea name="grants" rows="3" spellcheck="false" required>{{formGrants}}</textarea></label>
        <label>Expires after (optional: 90d, 12h, 30m) <input name="expires" value="{{formExpires}}" spellcheck="false" autocomplete="off"></label>
        <button type="submit">Create</button>
        </form>
        <p class="note">A grant is <code>admin</code>, <code>team:ACCESS</code>, <code>project:ID:ACCESS</code> or <code>cluster:ID:ACCESS</code> (ID may be *); ACCESS is names, read or write.</p>
        <h2 id="roles">OIDC roles</h2>
        <p class="note">A CI job signs in with its platform's OIDC token (GitHub Actions, GitLab CI, a Kubernetes service account) and gets a short-lived token with the role's grants: <code>secretfill login --role NAME --oidc-token-file FILE</code>, or <code>SECRETFILL_ROLE</code> with <code>SECRETFILL_OIDC_TOKEN</code>. No key is stored in the CI system.</p>
        {{#roleNotice}}<p class="notice" role="status">{{roleNotice}}</p>{{/roleNotice}}
        {{#roleError}}<p class="error" role="alert" id="role-error">{{roleError}}</p>{{/roleError}}
        {{#hasRoles}}
        <div class="scroll">
        <table id="roles-table">
        <thead><tr><th>Name</th><th></th><th>Issuer</th><th>Audiences</th><th>Bound claims</th><th>Subject</th><th>Grants</th><th>Token lasts</th><th>Keys</th></tr></thead>
        <tbody>
        {{#roles}}
        <tr data-role="{{name}}">
        <td class="name">{{name}}</td>
        <td><form method="get" action="/ui/roles/delete"><input type="hidden" name="name" value="{{name}}"><button type="submit">Delete</button></form></td>
        <td class="list"><code>{{issuer}}</code></td>
        <td class="list">{{#audiences}}<code>{{.}}</code> {{/audiences}}</td>
        <td class="list">{{#claims}}<code>{{.}}</code> {{/claims}}</td>
        <td class="list">{{#subject}}<code>{{subject}}</code>{{/subject}}</td>
        <td class="list">{{#grants}}<code>{{.}}</code> {{/grants}}</td>
        <td>{{ttl}} (at most {{maxTTL}})</td>
        <td>{{keys}}</td>
        </tr>
        {{/roles}}
        </tbody>
        </table>
        </div>
        {{/hasRoles}}
        {{^hasRoles}}<p id="no-roles">No roles yet.</p>{{/hasRoles}}
        <h3>Create a role</h3>
        <form id="create-role" method="post" action="/ui/roles/create">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" value="{{roleName}}" required maxlength="128" spellcheck="false" autocomplete="off"></label>
        <label>Issuer (exactly as the tokens' iss says it) <input name="issuer" value="{{roleIssuer}}" required maxlength="512" spellcheck="false" autocomplete="off" placeholder="https://token.actions.githubusercontent.com"></label>
        <label>Audiences, one per line <textarea name="audiences" rows="2" spellcheck="false" required>{{roleAudiences}}</textarea></label>
        <label>Bound claims, CLAIM=PATTERN one per line (* matches any run) <textarea name="claims" rows="3" spellcheck="false" placeholder="repository=acme/api&#10;ref=refs/heads/main">{{roleClaims}}</textarea></label>
        <label>Subject (optional; sub must equal it) <input name="subject" value="{{roleSubject}}" maxlength="512" spellcheck="false" autocomplete="off"></label>
        <label>Grants, one per line <textarea name="grants" rows="3" spellcheck="false" required>{{roleGrants}}</textarea></label>
        <label>Token lasts <input name="ttl" value="{{roleTTL}}" maxlength="32" spellcheck="false" autocomplete="off"></label>
        <label>At most <input name="maxTTL" value="{{roleMaxTTL}}" maxlength="32" spellcheck="false" autocomplete="off"></label>
        <label>The issuer's keys as a JWKS document (optional; without it they are discovered from the issuer, which needs https) <textarea name="jwks" rows="3" spellcheck="false">{{roleJWKS}}</textarea></label>
        <button type="submit">Create role</button>
        </form>

        """

    static let members = """
        <h1>Members</h1>
        <p class="note">The team's people, by the email the company's identity provider gives, and groups of them as <code>group:NAME</code>, with grants as an API key has. Adding a member that exists replaces its grants.</p>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert" id="member-error">{{error}}</p>{{/error}}
        {{#hasMembers}}
        <div class="scroll">
        <table id="members">
        <thead><tr><th>Member</th><th>Grants</th><th>Added (UTC)</th><th>Changed</th><th></th></tr></thead>
        <tbody>
        {{#members}}
        <tr data-member="{{name}}">
        <td class="name">{{name}}</td>
        <td class="grants">{{#grants}}<code>{{.}}</code> {{/grants}}</td>
        <td class="when">{{#created}}{{> time}}{{/created}}</td>
        <td class="when">{{#updated}}{{> time}}{{/updated}}</td>
        <td><form method="get" action="/ui/members/remove"><input type="hidden" name="name" value="{{name}}"><button type="submit">Remove</button></form>
        <details><summary>Change grants</summary><form class="change-grants" method="post" action="/ui/members/add">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="name" value="{{name}}">
        <label>Grants, one per line <textarea name="grants" rows="3" spellcheck="false" required>{{grantLines}}</textarea></label>
        <button type="submit">Change</button></form></details></td>
        </tr>
        {{/members}}
        </tbody>
        </table>
        </div>
        {{/hasMembers}}
        {{^hasMembers}}<p id="no-members">No members yet.</p>{{/hasMembers}}
        <h2>Add a member</h2>
        <form id="add-member" method="post" action="/ui/members/add">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Email, or group:NAME <input name="name" value="{{formName}}" required maxlength="262" spellcheck="false" autocomplete="off"></label>
        <label>Grants, one per line <textarea name="grants" rows="3" spellcheck="false" required>{{formGrants}}</textarea></label>
        <button type="submit">Add</button>
        </form>
        <p class="note">A grant is <code>admin</code>, <code>team:ACCESS</code>, <code>project:ID:ACCESS</code> or <code>cluster:ID:ACCESS</code> (ID may be *); ACCESS is names, read or write.</p>

        """

    static let confirmMemberRemove = """
        <h1>Remove member '{{name}}'?</h1>
        <p>They lose the grants this membership gave them.</p>
        <form id="confirm-member-remove" method="post" action="/ui/members/remove">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <button type="submit" class="danger">Remove</button>
        <a href="/ui/members">Cancel</a>
        </form>

        """

    static let confirmRoleDelete = """
        <h1>Delete role '{{name}}'?</h1>
        <p>Every token it issued stops working at once on this server, and within a second on the others; CI jobs using it can no longer sign in.</p>
        <form id="confirm-role-delete" method="post" action="/ui/roles/delete">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="name" value="{{name}}">
        <button type="submit" class="danger">Delete</button>
        <a href="/ui/keys#roles">Cancel</a>
        </form>

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
        <label>Since <input name="since" value="{{filterSince}}" spellcheck="false" placeholder="24h, 7d or 2026-01-02" maxlength="32"></label>
        <button type="submit">Filter</button>
        </form>
        <p class="note">Newest first, 100 entries a page.</p>
        <div class="scroll">
        <table id="audit">
        <thead><tr><th>Time (UTC)</th><th>Key</th><th>Action</th><th>Scope</th><th>Names</th><th>Client</th><th>Outcome</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr><td class="when">{{#time}}{{> time}}{{/time}}</td><td>{{key}}</td><td>{{action}}</td><td>{{scope}}</td><td class="names">{{names}}</td><td class="client">{{client}}</td><td class="{{outcome}}">{{outcome}}{{#count}} ×{{count}}{{/count}}</td></tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
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
        header { display: flex; flex-wrap: wrap; gap: .5em .9em; align-items: center; padding: .6em 1.2em; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; }
        nav { display: flex; flex-wrap: wrap; gap: .3em .8em; align-items: center; }
        nav a[aria-current], nav summary.current { font-weight: 700; }
        details.menu { position: relative; }
        details.menu summary { cursor: pointer; color: var(--accent); }
        details.menu .menu-list { position: absolute; z-index: 2; top: 1.6em; left: 0; display: flex; flex-direction: column; gap: .2em; min-width: 12em;
          max-height: 60vh; overflow-y: auto; padding: .5em .8em; background: Canvas; border: 1px solid var(--line); white-space: nowrap; }
        #open-scope input[name=id] { width: 6em; }
        #sign-out { margin-left: auto; white-space: nowrap; }
        main { padding: 1em 1.2em; max-width: 72em; }
        .scroll { overflow-x: auto; max-width: 100%; }
        table { border-collapse: collapse; width: 100%; margin: 1em 0; }
        td.actions a.history { margin-right: .6em; }
        td.actions form { display: inline; }
        td.when { white-space: normal; }
        td.when time, .ago { white-space: nowrap; }
        .ago, .current { opacity: .75; font-size: .9em; }
        label.check { display: flex; gap: .4em; align-items: center; }
        form#audit-filter, form#scope-filter { display: flex; flex-wrap: wrap; gap: .4em 1.2em; align-items: center; }
        form#audit-filter label, form#scope-filter label { margin: 0; }
        input, select, textarea { max-width: 100%; box-sizing: border-box; }
        @media (max-width: 640px) {
          header { padding: .5em .7em; gap: .4em .8em; }
          #sign-out { margin-left: 0; }
          main { padding: .8em .7em; }
          th, td { padding: .3em .4em; }
        }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
        td.grants, td.names { white-space: normal; }
        #roles-table td.list { white-space: normal; min-width: 10em; }
        #roles-table td.list code { display: block; overflow-wrap: anywhere; }
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
