# tqbench_jobs.rb - the Sidekiq jobs tqbench benchmarks, loaded with
#   sidekiq -r <this file> -q <queue> -c <concurrency>
# (REDIS_URL and the TQ_SIDEKIQ_* variables of tqbench_hook.rb in the
# environment). One class per tqworker kind, with the names
# bench/frameworks/sidekiq.c writes in its jobs' "class":
#
#   Tqbench::Noop          returns at once
#   Tqbench::Sleep(ms)     sleeps ms milliseconds (releases the GVL)
#   Tqbench::Cpu(us)       burns us microseconds of this thread's CPU time
#   Tqbench::Fail          raises; counted failed (jobs carry retry: false:
#                          Sidekiq's retries wait seconds to minutes)
#
# Nothing stores a result (Sidekiq has no result backend). A payload pad
# travels as the job's top-level "tqbench_pad" field and is ignored.

require_relative "tqbench_hook"

TqbenchSidekiq.install

module Tqbench
  class Noop
    include Sidekiq::Worker
    sidekiq_options retry: false

    def perform(*) = nil
  end

  class Sleep
    include Sidekiq::Worker
    sidekiq_options retry: false

    def perform(ms, *) = sleep(ms / 1000.0)
  end

  class Cpu
    include Sidekiq::Worker
    sidekiq_options retry: false

    # thread CPU time, so waiting for the GVL is not counted as work
    def perform(us, *)
      deadline = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :microsecond) + us
      x = 0
      while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :microsecond) < deadline
        64.times { |i| x += i * i }
      end
      nil
    end
  end

  class Failure < StandardError; end

  class Fail
    include Sidekiq::Worker
    sidekiq_options retry: false

    def perform(*) = raise(Failure, "tqbench fail job")
  end
end
