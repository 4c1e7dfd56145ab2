CREATE TABLE "conversations" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"customer_id" text NOT NULL,
	"customer_name" text,
	"status" text DEFAULT 'open' NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_message_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"partition" integer NOT NULL,
	"offset" text NOT NULL,
	"key" text,
	"reason" text NOT NULL,
	"errors" jsonb,
	"raw" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"conversation_id" text NOT NULL,
	"source" text NOT NULL,
	"customer_id" text NOT NULL,
	"customer_name" text,
	"customer_email" text,
	"text" text NOT NULL,
	"attachments" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "results" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"conversation_id" text NOT NULL,
	"channel" text NOT NULL,
	"intent" text,
	"intent_confidence" real,
	"sentiment" text,
	"urgency" text,
	"outputs" jsonb NOT NULL,
	"failures" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"degraded" integer DEFAULT 0 NOT NULL,
	"total_ms" real NOT NULL,
	"timings" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "results" ADD CONSTRAINT "results_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "conversations_last_message_idx" ON "conversations" USING btree ("last_message_at");--> statement-breakpoint
CREATE INDEX "messages_conversation_idx" ON "messages" USING btree ("conversation_id","received_at");--> statement-breakpoint
CREATE INDEX "results_created_idx" ON "results" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "results_intent_idx" ON "results" USING btree ("intent","created_at");--> statement-breakpoint
CREATE INDEX "results_conversation_idx" ON "results" USING btree ("conversation_id");