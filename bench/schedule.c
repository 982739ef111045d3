/* schedule.c - an open loop's schedule (see schedule.h). */
#include "schedule.h"

#include <math.h>

static int bursts(const struct schedule *s) {
    return s->factor > 1 && s->every_s > 0 && s->length_s > 0;
}

double schedule_count(const struct schedule *s, double t_s) {
    if (t_s <= 0) return 0;
    if (!bursts(s)) return t_s * s->rate;
    double k = floor(t_s / s->every_s), u = t_s - k * s->every_s;
    double in_burst = fmin(fmax(u - s->at_s, 0), s->length_s);
    double burst_time = k * s->length_s + in_burst;
    return s->rate * (t_s + (s->factor - 1) * burst_time);
}

double schedule_time(const struct schedule *s, double i) {
    if (i <= 0) return 0;
    if (!bursts(s)) return i / s->rate;
    double per_period = s->rate * (s->every_s + (s->factor - 1) * s->length_s);
    double k = floor(i / per_period), rem = i - k * per_period;
    double before = s->rate * s->at_s, during = s->rate * s->factor * s->length_s;
    double u;
    if (rem < before) u = rem / s->rate;
    else if (rem < before + during) u = s->at_s + (rem - before) / (s->rate * s->factor);
    else u = s->at_s + s->length_s + (rem - before - during) / s->rate;
    return k * s->every_s + u;
}
