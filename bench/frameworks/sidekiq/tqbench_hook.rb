# tqbench_hook.rb - counts and times Sidekiq jobs into tqbench's native keys.
#
# Sidekiq's own counters (stat:processed, stat:failed) are global and are
# flushed only by its 5 s heartbeat and at exit, so they cannot say when a
# run is complete, and they carry no latency. This server middleware counts
# inside the worker instead and writes what tqworker writes
# (common/tq_keys.h):
#
#   P:run:<run>:stats   HINCRBY completed / failed
#   P:run:<run>:stamps  RPUSH "origin_us,started_us,done_us" per completed job
#   P:worker:<id>       heartbeat hash (MULTI HSET + PEXPIRE), SADD P:workers,
#                       with the contract's fields: pid, host, queues,
#                       concurrency, protocol "sidekiq", processed, failed,
#                       inflight, cpu_user_us, cpu_sys_us, rss_kb, pss_kb
#
# Counts and stamps are batched and flushed every ~100 ms by one thread (and
# at exit), counters and stamps of one flush in one MULTI/EXEC, so a reader
# that sees the final count also sees every stamp. Sidekiq is one process
# with a thread per job slot, so the heartbeat's CPU and RSS are this
# process's own.
#
# The run a job counts in and its latency origin come from the top-level
# fields tqbench writes into the job hash (tqbench_run, tqbench_enq_us,
# tqbench_sched_us; bench/frameworks/sidekiq.c); Sidekiq keeps unknown keys.
# A job without them (pushed by Sidekiq's own client) counts in TQ_SIDEKIQ_RUN
# with its enqueued_at as origin.
#
# Configuration (environment, set by tqbench's sidekiq adapter):
#   REDIS_URL                      redis://[user:pass@]host[:port][/db] or
#                                  unix:///path[?db=N][&password=P]
#   TQ_SIDEKIQ_PREFIX              key prefix (default tq)
#   TQ_SIDEKIQ_RUN                 run id for jobs without tqbench fields
#   TQ_SIDEKIQ_WORKER_ID           heartbeat id (default <host>-<pid>)
#   TQ_SIDEKIQ_HEARTBEAT_INTERVAL  seconds, 0.1..3600 (default 1); TTL 3 intervals
#   TQ_SIDEKIQ_HOOK                "0" disables the hook (overhead measurement)
#   TQ_SIDEKIQ_LOG_LEVEL           Sidekiq's log level (default WARN: its INFO
#                                  default logs two lines per job)

require "cgi"
require "logger"
require "socket"
require "uri"
require "redis"
require "sidekiq"

module TqbenchSidekiq
  FLUSH_INTERVAL_S = 0.1
  STAMPS_PER_RPUSH = 1000

  def self.env(name, default)
    v = ENV[name]
    v.nil? || v.empty? ? default : v
  end

  def self.now_us
    Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
  end

  # tqbench's URL forms (common/tq_redis.h) -> redis-rb options. redis-rb
  # 4.8 reads only the path of a unix:// URL, so db and password of
  # tqbench's unix form are taken from its query here. The password never
  # goes into an error message.
  def self.redis_options(url)
    uri = URI(url)
    case uri.scheme
    when "unix"
      raise ArgumentError, "unix Redis URL without a socket path" if uri.path.to_s.empty?
      q = uri.query ? URI.decode_www_form(uri.query).to_h : {}
      opts = { path: CGI.unescape(uri.path), db: Integer(q.fetch("db", "0")) }
      opts[:password] = q["password"] if q["password"]
      opts
    when "redis"
      { url: url }
    else
      raise ArgumentError, "unsupported Redis URL scheme #{uri.scheme.inspect} (redis:// or unix://)"
    end
  end

  class Config
    attr_reader :prefix, :run, :worker_id, :interval, :enabled, :redis

    def initialize
      @prefix = TqbenchSidekiq.env("TQ_SIDEKIQ_PREFIX", "tq")
      @run = TqbenchSidekiq.env("TQ_SIDEKIQ_RUN", "standalone")
      @worker_id = TqbenchSidekiq.env("TQ_SIDEKIQ_WORKER_ID", "#{Socket.gethostname}-#{Process.pid}")
      raw = TqbenchSidekiq.env("TQ_SIDEKIQ_HEARTBEAT_INTERVAL", "1")
      @interval = (Float(raw) rescue 1.0).clamp(0.1, 3600.0)
      @enabled = TqbenchSidekiq.env("TQ_SIDEKIQ_HOOK", "1") != "0"
      @redis = TqbenchSidekiq.redis_options(TqbenchSidekiq.env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    end

    def stats_key(run) = "#{@prefix}:run:#{run}:stats"
    def stamps_key(run) = "#{@prefix}:run:#{run}:stamps"
    def worker_key = "#{@prefix}:worker:#{@worker_id}"
    def workers_key = "#{@prefix}:workers"
  end

  # Counts and stamps since the last flush, and the process's totals.
  class Batch
    attr_reader :processed, :failed, :inflight

    def initialize(cfg)
      @cfg = cfg
      @lock = Mutex.new
      @counts = {}  # run -> [completed, failed]
      @stamps = {}  # run -> ["origin,start,done", ...]
      @processed = @failed = @inflight = 0
      @client = nil
      @warned_at = 0.0
    end

    def started
      @lock.synchronize { @inflight += 1 }
    end

    def done(run, ok, stamp)
      @lock.synchronize do
        @inflight -= 1
        @processed += 1
        c = (@counts[run] ||= [0, 0])
        if ok
          c[0] += 1
          (@stamps[run] ||= []) << stamp if stamp # latency of completed jobs only, as tqworker
        else
          c[1] += 1
          @failed += 1
        end
      end
    end

    # One MULTI/EXEC; on an error the batch is kept for the next flush (a
    # lost count would stall the run). Returns true when nothing is pending.
    def flush
      counts = stamps = nil
      @lock.synchronize do
        return true if @counts.empty? && @stamps.empty?
        counts, stamps = @counts, @stamps
        @counts, @stamps = {}, {}
      end
      begin
        @client ||= Redis.new(**@cfg.redis, timeout: 5)
        @client.multi do |tx|
          counts.each do |run, (completed, failed)|
            tx.hincrby(@cfg.stats_key(run), "completed", completed) if completed > 0
            tx.hincrby(@cfg.stats_key(run), "failed", failed) if failed > 0
          end
          stamps.each do |run, items|
            items.each_slice(STAMPS_PER_RPUSH) { |s| tx.rpush(@cfg.stamps_key(run), s) }
          end
        end
        true
      rescue Redis::BaseError, SystemCallError, IOError => e
        @lock.synchronize do
          counts.each do |run, c|
            mine = (@counts[run] ||= [0, 0])
            mine[0] += c[0]
            mine[1] += c[1]
          end
          stamps.each { |run, items| @stamps[run] = items + (@stamps[run] || []) }
        end
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        if now - @warned_at > 5
          @warned_at = now
          Sidekiq.logger.warn("tqbench hook: flush to Redis failed, will retry: #{e.class}: #{e.message}")
        end
        @client = nil
        false
      end
    end
  end

  # tqbench's heartbeat P:worker:<id>, from Sidekiq's :startup event (so
  # "heartbeat present" means "about to fetch") until exit.
  class Heartbeat
    PAGE_KB = 4 # Linux's page size on the platforms tqbench runs on

    def initialize(cfg, batch, queues, concurrency)
      @cfg = cfg
      @batch = batch
      @queues = queues.join(",")
      @concurrency = concurrency
      @pid = Process.pid
      @host = Socket.gethostname
      @started_us = TqbenchSidekiq.now_us
      @client = Redis.new(**cfg.redis, timeout: 5)
      @warned_at = 0.0
    end

    def fields
      t = Process.times
      rss = (File.read("/proc/self/statm").split[1].to_i * PAGE_KB rescue 0)
      f = { "pid" => @pid, "host" => @host, "queues" => @queues, "concurrency" => @concurrency,
            "prefetch" => 0, "protocol" => "sidekiq", "version" => "sidekiq-#{Sidekiq::VERSION}",
            "started_us" => @started_us, "beat_us" => TqbenchSidekiq.now_us,
            "processed" => @batch.processed, "failed" => @batch.failed,
            "inflight" => @batch.inflight,
            "cpu_user_us" => (t.utime * 1_000_000).to_i, "cpu_sys_us" => (t.stime * 1_000_000).to_i,
            "rss_kb" => rss }
      pss = File.foreach("/proc/self/smaps_rollup").find { |l| l.start_with?("Pss:") } rescue nil
      f["pss_kb"] = pss.split[1].to_i if pss
      f
    end

    def beat(first)
      @client.multi do |tx|
        tx.hset(@cfg.worker_key, fields)
        tx.pexpire(@cfg.worker_key, (3000 * @cfg.interval).to_i)
        tx.sadd(@cfg.workers_key, @cfg.worker_id) if first
      end
      true
    rescue Redis::BaseError, SystemCallError, IOError => e
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      if now - @warned_at > 5
        @warned_at = now
        Sidekiq.logger.warn("tqbench hook: heartbeat #{@cfg.worker_key} failed: #{e.message}")
      end
      false
    end

    def deregister
      @client.multi do |tx|
        tx.srem(@cfg.workers_key, @cfg.worker_id)
        tx.del(@cfg.worker_key)
      end
    rescue Redis::BaseError, SystemCallError, IOError => e
      Sidekiq.logger.warn("tqbench hook: could not deregister #{@cfg.worker_id}: #{e.message}")
    end
  end

  # The server middleware: wraps every job Sidekiq runs (the retry handler
  # is inside it, so a job's exception passes through here).
  class Middleware
    def initialize(hook)
      @hook = hook
    end

    def call(_worker, job, _queue)
      batch = @hook.batch
      batch.started
      start = TqbenchSidekiq.now_us
      ok = false
      begin
        yield
        ok = true
      ensure
        done = TqbenchSidekiq.now_us
        run = job["tqbench_run"] || @hook.cfg.run
        origin = job["tqbench_sched_us"] || job["tqbench_enq_us"]
        origin ||= (job["enqueued_at"] * 1_000_000).to_i if job["enqueued_at"].is_a?(Numeric)
        batch.done(run, ok, origin ? "#{origin},#{start},#{done}" : nil)
      end
    end
  end

  class Hook
    attr_reader :cfg, :batch

    def initialize(cfg)
      @cfg = cfg
      @batch = Batch.new(cfg)
      @heartbeat = nil
      @stop = false
      @threads = []
    end

    def start(sidekiq_options)
      queues = Array(sidekiq_options[:queues]).uniq
      @heartbeat = Heartbeat.new(@cfg, @batch, queues, sidekiq_options[:concurrency].to_i)
      registered = @heartbeat.beat(true)
      @threads << Thread.new do
        until @stop
          sleep FLUSH_INTERVAL_S
          @batch.flush
        end
      end
      @threads << Thread.new do
        until @stop
          sleep @cfg.interval
          ok = @heartbeat.beat(!registered)
          registered ||= ok
        end
      end
    end

    # At exit, after Sidekiq's processors stopped: the last batch, then the
    # heartbeat goes away (the driver reads "no heartbeat" as "stopped").
    def close
      @stop = true
      @threads.each { |t| t.join(1) }
      3.times do
        break if @batch.flush
        sleep 0.2
      end
      @heartbeat&.deregister
    end
  end

  def self.install
    Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
    level = env("TQ_SIDEKIQ_LOG_LEVEL", "WARN").upcase
    Sidekiq.configure_server do |config|
      config.redis = redis_options(env("REDIS_URL", "redis://127.0.0.1:6379/0"))
      Sidekiq.logger.level = Logger.const_get(level)
      cfg = Config.new
      next unless cfg.enabled

      hook = Hook.new(cfg)
      config.server_middleware { |chain| chain.add Middleware, hook }
      config.on(:startup) { hook.start(Sidekiq.options) }
      at_exit { hook.close }
    end
  end
end
