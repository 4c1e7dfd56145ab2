CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"key" text,
	"value" text NOT NULL,
	"headers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone,
	"claimed_by" text,
	"claimed_until" timestamp with time zone,
	"reply_message_id" uuid,
	"reply_done_at" timestamp with time zone,
	"reply_claimed_by" text,
	"reply_claimed_until" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("id") WHERE "outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_reply_due_idx" ON "outbox" USING btree ("created_at") WHERE "outbox"."reply_message_id" is not null and "outbox"."reply_done_at" is null;