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
CREATE TABLE "privacy_audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"action" text NOT NULL,
	"actor" text NOT NULL,
	"subject_index" text,
	"counts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "email_messages" ADD COLUMN "sender_index" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "customer_email_index" text;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("id") WHERE "outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_reply_due_idx" ON "outbox" USING btree ("created_at") WHERE "outbox"."reply_message_id" is not null and "outbox"."reply_done_at" is null;--> statement-breakpoint
CREATE INDEX "privacy_audit_created_idx" ON "privacy_audit" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_customer_idx" ON "messages" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "messages_email_index_idx" ON "messages" USING btree ("customer_email_index");--> statement-breakpoint
CREATE INDEX "messages_received_idx" ON "messages" USING btree ("received_at");