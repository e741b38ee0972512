/*
 * pgapp_rds_guard: what AWS RDS refuses its master user, refused the same way on the stand-in.
 *
 * Stock PostgreSQL lets a CREATEROLE role (RDS's master user) grant itself, or a role it creates,
 * the predefined roles that reach the server's operating system (PG15; PG16 restricted CREATEROLE
 * but the rule here holds whatever the major version). From those, COPY ... FROM PROGRAM runs
 * commands as the server's OS user, and reading server files exposes the TLS key. RDS allows none of
 * it, nor a non-superuser setting *_preload_libraries on a role or database (which can lock every
 * login out), nor creating an extension that is not in rds.extensions (pgextwlist creates those that
 * are, superuser-only ones included; whatever it passes on, not listed, is refused here with RDS's
 * reason), nor setting the REPLICATION attribute (a role replicates through rds_replication; 16 and
 * later let a CREATEROLE role that has REPLICATION hand it out). Loaded with shared_preload_libraries; superusers (rdsadmin, AWS's own) are not limited.
 *
 * It also defines the parameter group's rds.force_ssl (1, RDS's default from PostgreSQL 15): while it
 * is 1, a TCP connection without TLS is refused whatever pg_hba.conf allows; 0 allows it. Dynamic, as
 * on RDS (a reload applies it).
 */
#include "postgres.h"

#include <sys/socket.h>

#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static ProcessUtility_hook_type prev_utility = NULL;
static ClientAuthentication_hook_type prev_client_auth = NULL;
static int	force_ssl = 1;
static void after(Node *stmt);

/* Predefined roles that reach the server's files, programs or every table (by OID: exact). */
static const Oid reserved_roles[] = {
	ROLE_PG_EXECUTE_SERVER_PROGRAM, ROLE_PG_READ_SERVER_FILES, ROLE_PG_WRITE_SERVER_FILES,
	ROLE_PG_READ_ALL_DATA, ROLE_PG_WRITE_ALL_DATA};

/* Settings RDS keeps to its parameter group. */
static const char *const reserved_settings[] = {
	"local_preload_libraries", "session_preload_libraries", "shared_preload_libraries", NULL};

static bool
in_list(const char *name, const char *const *list)
{
	if (name == NULL)
		return false;
	for (; *list; list++)
		if (pg_strcasecmp(name, *list) == 0)
			return true;
	return false;
}

static bool
reserved_role(const char *name)
{
	Oid			oid = name ? get_role_oid(name, true) : InvalidOid;

	for (int i = 0; OidIsValid(oid) && i < lengthof(reserved_roles); i++)
		if (oid == reserved_roles[i])
			return true;
	return false;
}

static void
refuse_role(const char *action, const char *role)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s role \"%s\"", action, role),
			 errdetail("On Amazon RDS only rdsadmin can grant or change %s; the RDS stand-in refuses it as RDS does.", role),
			 errhint("Grant the privileges the role needs on specific objects instead.")));
}

/* The role a GRANT/REVOKE list item or an IN ROLE item names, or NULL (CURRENT_USER and the like). */
static const char *
role_item_name(Node *n)
{
	if (IsA(n, AccessPriv))
		return ((AccessPriv *) n)->priv_name;
	if (IsA(n, RoleSpec) && ((RoleSpec *) n)->roletype == ROLESPEC_CSTRING)
		return ((RoleSpec *) n)->rolename;
	return NULL;
}

static void
check_role_list(List *roles)
{
	ListCell   *lc;

	foreach(lc, roles)
	{
		const char *name = role_item_name((Node *) lfirst(lc));

		if (reserved_role(name))
			refuse_role("grant", name);
	}
}

/*
 * CREATE ROLE x IN ROLE pg_execute_server_program, CREATE ROLE x REPLICATION and ALTER ROLE x
 * [NO]REPLICATION (`altering`: as PostgreSQL 15 does, even restating it): on RDS a role replicates
 * through membership in rds_replication, never the attribute. (PostgreSQL 16 and later let a
 * CREATEROLE role that has REPLICATION itself, as the master user does here, hand it out.)
 */
static void
check_role_options(List *options, bool altering)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "addroleto") == 0)
			check_role_list((List *) d->arg);
		else if (strcmp(d->defname, "isreplication") == 0 && (altering || boolVal(d->arg)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be superuser to alter replication roles or change replication attribute"),
					 errdetail("On Amazon RDS a role replicates through membership in rds_replication, not the REPLICATION attribute."),
					 errhint("GRANT rds_replication TO the role.")));
	}
}

static void
check_setting(VariableSetStmt *set)
{
	if (set != NULL && in_list(set->name, reserved_settings))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set parameter \"%s\"", set->name),
				 errdetail("On Amazon RDS this parameter is set in the DB parameter group, not by users."),
				 errhint("Set it in the parameter group (pgapp: the rds service's server settings).")));
}

/* Whether `name` is an item of the comma-separated `list` (spaces around items ignored). */
static bool
in_csv(const char *name, const char *list)
{
	size_t		len = strlen(name);

	while (list && *list)
	{
		const char *end = strchr(list, ',');
		size_t		n = end ? (size_t) (end - list) : strlen(list);

		while (n > 0 && *list == ' ')
			list++, n--;
		while (n > 0 && list[n - 1] == ' ')
			n--;
		if (n == len && strncmp(list, name, n) == 0)
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}

static void
check_extension(const char *name)
{
	const char *allowed = GetConfigOption("rds.extensions", true, false);

	if (!in_csv(name, allowed ? allowed : ""))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("extension \"%s\" is not allowed on Amazon RDS", name),
				 errdetail("RDS for PostgreSQL lets its master user create only the extensions in rds.extensions (SHOW rds.extensions); untrusted languages such as plpython3u are never among them."),
				 errhint("Use it on custom, the Postgres that takes any extension; keep RDS to what it allows.")));
}

static void
guard(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_GrantRoleStmt:
			if (((GrantRoleStmt *) stmt)->is_grant)
				check_role_list(((GrantRoleStmt *) stmt)->granted_roles);
			break;
		case T_CreateRoleStmt:
			check_role_options(((CreateRoleStmt *) stmt)->options, false);
			break;
		case T_AlterRoleStmt:
			{
				/* ALTER GROUP pg_execute_server_program ADD USER x */
				RoleSpec   *r = ((AlterRoleStmt *) stmt)->role;

				if (r && r->roletype == ROLESPEC_CSTRING && reserved_role(r->rolename))
					refuse_role("alter", r->rolename);
				check_role_options(((AlterRoleStmt *) stmt)->options, true);
				break;
			}
		case T_AlterRoleSetStmt:
			check_setting(((AlterRoleSetStmt *) stmt)->setstmt);
			break;
		case T_AlterDatabaseSetStmt:
			check_setting(((AlterDatabaseSetStmt *) stmt)->setstmt);
			break;
		case T_CreateExtensionStmt:
			check_extension(((CreateExtensionStmt *) stmt)->extname);
			break;
		case T_CopyStmt:
			if (((CopyStmt *) stmt)->filename != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to COPY %s a file or program",
								((CopyStmt *) stmt)->is_from ? "from" : "to"),
						 errdetail("Amazon RDS does not allow server-side COPY with files or programs."),
						 errhint("Use COPY ... FROM STDIN / TO STDOUT, e.g. psql's \\copy.")));
			break;
		default:
			break;
	}
}

static void
pgapp_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (!superuser())
		guard(pstmt->utilityStmt);
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	after(pstmt->utilityStmt);
}

/*
 * rds_replication, as on RDS: a member may replicate (logical replication, slots). Stock PostgreSQL
 * ties that to the REPLICATION attribute, which only a superuser may set and which membership does
 * not carry; so granting (or revoking) rds_replication sets (or clears) it on each grantee, as the
 * bootstrap superuser (rdsadmin), inside the granting transaction.
 */
#define RDS_REPLICATION "rds_replication"

static bool
names_replication(List *roles)
{
	ListCell   *lc;

	foreach(lc, roles)
	{
		const char *name = role_item_name((Node *) lfirst(lc));

		if (name && strcmp(name, RDS_REPLICATION) == 0)
			return true;
	}
	return false;
}

static void
set_replication(const char *role, bool on)
{
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pgapp_rds_guard: SPI_connect failed");
		SPI_execute(psprintf("ALTER ROLE %s %s", quote_identifier(role), on ? "REPLICATION" : "NOREPLICATION"),
					false, 0);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

static void
after(Node *stmt)
{
	ListCell   *lc;

	if (IsA(stmt, GrantRoleStmt) && names_replication(((GrantRoleStmt *) stmt)->granted_roles))
	{
		GrantRoleStmt *g = (GrantRoleStmt *) stmt;

		foreach(lc, g->grantee_roles)
		{
			RoleSpec   *r = (RoleSpec *) lfirst(lc);

			if (r->roletype == ROLESPEC_CSTRING)
				set_replication(r->rolename, g->is_grant);
		}
	}
	else if (IsA(stmt, CreateRoleStmt))
	{
		/* CREATE ROLE x IN ROLE rds_replication */
		CreateRoleStmt *c = (CreateRoleStmt *) stmt;

		foreach(lc, c->options)
		{
			DefElem    *d = (DefElem *) lfirst(lc);

			if (strcmp(d->defname, "addroleto") == 0 && names_replication((List *) d->arg))
				set_replication(c->role, true);
		}
	}
}

/* rds.force_ssl = 1: plain-text TCP is refused, with the words stock Postgres uses for hostnossl. */
static void
pgapp_client_auth(Port *port, int status)
{
	if (prev_client_auth)
		prev_client_auth(port, status);
	if (status == STATUS_OK && force_ssl == 1 && !port->ssl_in_use &&
		port->raddr.addr.ss_family != AF_UNIX)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", no encryption",
						port->remote_host, port->user_name, port->database_name),
				 errhint("rds.force_ssl = 1 in the parameter group: connect with TLS (sslmode=require or stronger).")));
}

void
_PG_init(void)
{
	DefineCustomIntVariable("rds.force_ssl",
							"Refuse connections without TLS (1) or allow them (0).",
							NULL, &force_ssl, 1, 0, 1, PGC_SIGHUP, 0, NULL, NULL, NULL);
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = pgapp_utility;
	prev_client_auth = ClientAuthentication_hook;
	ClientAuthentication_hook = pgapp_client_auth;
}
