/*
 * pgapp_cron: start pg_cron's scheduler again without restarting the server.
 *
 * pg_cron 1.4 (Debian bookworm's) ends its scheduler with exit code 0 when it is terminated, and the
 * postmaster never restarts a background worker that exits 0. `pgapp snapshot` must end every session
 * of the app database (a template in use cannot be copied), the scheduler's included; afterwards it
 * calls this, as the superuser, to register the same worker pg_cron registers at start-up.
 *
 *   CREATE FUNCTION pg_temp.start_cron() RETURNS int LANGUAGE c AS 'pgapp_cron', 'pgapp_start_cron';
 *   SELECT pg_temp.start_cron();   -- the new scheduler's pid
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pgapp_start_cron);

Datum
pgapp_start_cron(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t pid;

	if (!superuser())
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("only a superuser may start pg_cron's scheduler")));

	/* What pg_cron's _PG_init registers. */
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	worker.bgw_main_arg = Int32GetDatum(0);
	worker.bgw_notify_pid = MyProcPid;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_cron");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PgCronLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_cron launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_cron launcher");

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						errmsg("could not start pg_cron's scheduler: no background worker slot is free"),
						errhint("Raise max_worker_processes, or restart custom.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR, (errmsg("pg_cron's scheduler did not start"),
						errhint("See custom's log.")));
	PG_RETURN_INT32((int32) pid);
}
