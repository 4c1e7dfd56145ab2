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
CREATE INDEX "privacy_audit_created_idx" ON "privacy_audit" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_customer_idx" ON "messages" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "messages_email_index_idx" ON "messages" USING btree ("customer_email_index");--> statement-breakpoint
CREATE INDEX "messages_received_idx" ON "messages" USING btree ("received_at");