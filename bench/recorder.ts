/**
 * The recorder: collects the SDK calls of one measured request at a time, and keeps the
 * handler's log line of the last request (its outcome proves which path ran). Installed once:
 * `interceptCalls(clients, recorder.intercept, "initialize")` sees each logical call once,
 * before the SDK's retries, and the handler logs to `recorder.logger`. Calls made outside
 * `record` (setup requests) are sent untouched and not recorded.
 */
import type {
  GetItemCommandInput,
  GetItemCommandOutput,
  PutItemCommandInput,
  PutItemCommandOutput,
  TransactWriteItemsCommandInput,
  TransactWriteItemsCommandOutput,
  UpdateItemCommandInput,
  UpdateItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import type { SdkCall } from "../dev/sdk-interception.ts";
import type { LogFields, Logger } from "../lambda/log.ts";

export interface CallRecord {
  service: SdkCall["service"];
  /** Without the "Command" suffix: "GetItem", "PutObject". */
  command: string;
  /** The command's input as the SDK got it. */
  input: object;
  /** The command's output; the error when the call failed. */
  output: object | undefined;
  failed: boolean;
  /** performance.now() when the call entered the SDK and when its promise settled. */
  start: number;
  end: number;
}

/** One recorded request: what `work` returned, its calls, how long it took, its log line. */
export interface Recording<T> {
  result: T;
  calls: CallRecord[];
  ms: number;
  log: LogFields | undefined;
}

export class CallRecorder {
  /** The calls of the request being recorded; undefined between recordings. */
  private calls: CallRecord[] | undefined;
  /** Ask DynamoDB for ConsumedCapacity on every call of this recording. */
  private askCapacity = false;
  private lastLog: LogFields | undefined;

  /** The handler's logger: keeps the "request" line (outcome, status) or the error, prints nothing. */
  readonly logger: Logger = {
    info: (msg, fields) => {
      if (msg === "request") this.lastLog = fields;
    },
    warn: () => {},
    error: (msg, fields) => {
      this.lastLog = { ...fields, error: msg };
    },
  };

  /** The interceptor to install with `interceptCalls(clients, recorder.intercept, "initialize")`. */
  readonly intercept = (call: SdkCall, send: () => Promise<unknown>): Promise<unknown> => {
    const calls = this.calls;
    if (!calls) return send();
    if (this.askCapacity && call.service === "dynamodb") call.input.ReturnConsumedCapacity = "TOTAL";
    const entry: CallRecord = {
      service: call.service,
      command: call.command.replace(/Command$/, ""),
      input: call.input,
      output: undefined,
      failed: false,
      start: performance.now(),
      end: Number.NaN,
    };
    calls.push(entry);
    return send().then(
      (result) => {
        entry.end = performance.now();
        entry.output = (result as { output?: object } | undefined)?.output;
        return result;
      },
      (error: unknown) => {
        entry.end = performance.now();
        entry.failed = true;
        entry.output = typeof error === "object" && error !== null ? error : { error };
        throw error;
      },
    );
  };

  /** The handler's log line of the last request, recorded or not. */
  get lastRequestLog(): LogFields | undefined {
    return this.lastLog;
  }

  /** Runs `work` (one handler call), recording its SDK calls and timing it. */
  async record<T>(work: () => Promise<T>, options: { askCapacity: boolean }): Promise<Recording<T>> {
    const calls: CallRecord[] = [];
    this.lastLog = undefined;
    this.calls = calls;
    this.askCapacity = options.askCapacity;
    const started = performance.now();
    let result: T;
    try {
      result = await work();
    } finally {
      this.calls = undefined;
      this.askCapacity = false;
    }
    const ms = performance.now() - started;
    return { result, calls, ms, log: this.lastLog };
  }
}

/** The SDK's own types of the DynamoDB commands the storage sends, by command name. */
interface DynamoCommands {
  GetItem: { input: GetItemCommandInput; output: GetItemCommandOutput };
  PutItem: { input: PutItemCommandInput; output: PutItemCommandOutput };
  UpdateItem: { input: UpdateItemCommandInput; output: UpdateItemCommandOutput };
  TransactWriteItems: { input: TransactWriteItemsCommandInput; output: TransactWriteItemsCommandOutput };
}

const DYNAMO_COMMANDS: ReadonlySet<string> = new Set<keyof DynamoCommands>(["GetItem", "PutItem", "UpdateItem", "TransactWriteItems"]);

/** A recorded DynamoDB call with its input and output typed by its command (switch on `command`). */
export type DynamoCall = {
  [C in keyof DynamoCommands]: {
    command: C;
    input: DynamoCommands[C]["input"];
    output: DynamoCommands[C]["output"] | undefined;
    failed: boolean;
  };
}[keyof DynamoCommands];

/** The call typed by its command; undefined for an S3 call or a DynamoDB command not listed above. */
export function dynamoCall(call: CallRecord): DynamoCall | undefined {
  if (call.service !== "dynamodb" || !DYNAMO_COMMANDS.has(call.command)) return undefined;
  // The interceptor saw the command's own input and output objects, as the SDK types them.
  return { command: call.command, input: call.input, output: call.failed ? undefined : call.output, failed: call.failed } as DynamoCall;
}
