/** A record to publish: key decides the partition (conversation id keeps a conversation in order). */
export interface OutRecord {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** A record as delivered to a consumer. */
export interface InRecord extends OutRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
}

/**
 * Handles one batch of records from one partition, in order. Resolving means every record is durably handled
 * and its offset may be committed; throwing means the batch is redelivered.
 */
export type BatchHandler = (records: InRecord[]) => Promise<void>;

/** Options of a consumer-group subscription. */
export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  handler: BatchHandler;
  /** Start from the beginning when the group has no committed offset (default true). */
  fromBeginning?: boolean;
}

/** A running subscription; `stop` finishes the in-flight batch, commits, and leaves the group. */
export interface Subscription {
  stop(): Promise<void>;
  /** Records received but not yet committed, summed over partitions (best effort). */
  lag(): Promise<number>;
}

/** The event bus: Kafka in production, an in-process log by default; same semantics (at-least-once, per-key order). */
export interface EventBus {
  readonly kind: string;
  /** Connects and makes sure the topics exist. */
  start(topics: string[]): Promise<void>;
  publish(topic: string, records: OutRecord[]): Promise<void>;
  subscribe(opts: SubscribeOptions): Promise<Subscription>;
  ping(): Promise<boolean>;
  stop(): Promise<void>;
}
