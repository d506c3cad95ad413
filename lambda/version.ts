/** The server's name and version, shown by `GET /` (a test keeps it equal to package.json). */
export const SERVER_NAME = "taskchampion-sync-server-aws";
export const SERVER_VERSION = "0.3.0";
